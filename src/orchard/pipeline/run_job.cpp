#include "orchard/pipeline/run_job.h"

#include <chrono>
#include <thread>

#include <arrow/io/interfaces.h>

#include "orchard/common/error.h"
#include "orchard/common/sha256.h"
#include "orchard/pipeline/feature_extraction.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/pca_stage.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/pca_model_file.h"

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void PrepareOutput(const Location& root, bool overwrite) {
  switch (GetEntryType(root)) {
    case EntryType::kFile:
      throw UsageError("output " + root.uri() + " is a file, not a folder");
    case EntryType::kDirectory: {
      arrow::fs::FileSelector selector;
      selector.base_dir = root.path;
      const auto entries = ValueOrThrow(root.fs->GetFileInfo(selector), root.uri());
      if (entries.empty()) return;
      if (!overwrite) {
        throw UsageError("output " + root.uri() + " is not empty; pass --overwrite to replace it");
      }
      ThrowIfError(root.fs->DeleteDirContents(root.path), root.uri());
      return;
    }
    case EntryType::kMissing:
      ThrowIfError(root.fs->CreateDir(root.path, /*recursive=*/true), root.uri());
      return;
  }
}

void WriteText(const Location& location, const std::string& text) {
  auto out = ValueOrThrow(location.fs->OpenOutputStream(location.path), location.uri());
  ThrowIfError(out->Write(text), location.uri());
  ThrowIfError(out->Close(), location.uri());
}

PreprocessSpec SpecForModel(const std::string& preset, const EmbeddingModel& model) {
  PreprocessSpec spec = PreprocessSpec::FromPreset(preset);
  spec.width = model.input_width();
  spec.height = model.input_height();
  return spec;
}

int DecodeThreads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

nlohmann::json PcaJson(const PcaModel& pca) {
  return {{"file", "pca.parquet"},
          {"k", pca.k()},
          {"dim", pca.dim()},
          {"n_samples", pca.n_samples},
          {"explained_variance_ratio", pca.explained_variance_ratio.sum()}};
}

}  // namespace

RunSummary RunJob(const RunOptions& options, const std::atomic<bool>& cancel, std::ostream& log) {
  const auto start = Clock::now();
  nlohmann::json timings;
  const Location input = ResolveLocation(options.input);
  if (GetEntryType(input) == EntryType::kMissing) throw IoError(input.uri() + ": no such file or folder");
  const OutputLayout output{ResolveLocation(options.output)};
  PrepareOutput(output.root, options.overwrite);

  const Location model_file = ResolveLocation(options.model.path.string());
  std::string model_sha256;
  try {
    const auto model_bytes = ReadAll(model_file);
    model_sha256 = Sha256Hex({model_bytes->data(), static_cast<std::size_t>(model_bytes->size())});
  } catch (const InputError& e) {
    throw ModelError(model_file.uri() + ": " + e.what());
  }
  auto stage_start = Clock::now();
  EmbeddingModel model(options.model);
  timings["model_load_seconds"] = SecondsSince(stage_start);

  ExtractionSettings settings{input,
                              output.staging(),
                              output.errors_file(),
                              SpecForModel(options.preprocess_preset, model),
                              options.batch_size,
                              DecodeThreads(options.threads),
                              options.rows_per_part,
                              options.max_pixels};
  ThrowIfError(output.root.fs->CreateDir(output.staging().path), output.staging().uri());
  ThrowIfError(output.root.fs->CreateDir(output.errors().path), output.errors().uri());
  ThrowIfError(output.root.fs->CreateDir(output.features().path), output.features().uri());

  ProgressReporter progress(log, IsTerminal(2), "features");
  stage_start = Clock::now();
  ExtractionResult extracted = ExtractFeatures(settings, model, progress, cancel);
  progress.Finish();
  timings["features_seconds"] = SecondsSince(stage_start);

  stage_start = Clock::now();
  const PcaModel pca = PcaModel::Fit(extracted.stats, options.pca);
  WritePcaModel(pca, output.pca_model().fs, output.pca_model().path);
  timings["pca_fit_seconds"] = SecondsSince(stage_start);
  stage_start = Clock::now();
  const auto parts = WritePcaParts(extracted.staged_parts, output.features(), pca);
  ThrowIfError(output.root.fs->DeleteDir(output.staging().path), output.staging().uri());
  timings["pca_transform_write_seconds"] = SecondsSince(stage_start);

  RunSummary summary;
  summary.written = extracted.rows_written;
  summary.failed = extracted.rows_failed;
  summary.seen = summary.written + summary.failed;
  summary.wall_seconds = SecondsSince(start);
  summary.images_per_second = summary.seen / summary.wall_seconds;
  nlohmann::json part_paths = nlohmann::json::array();
  for (const auto& name : parts) part_paths.push_back("features/" + name);
  summary.manifest = {
      {"orchard_version", ORCHARD_VERSION},
      {"input", input.uri()},
      {"counts", {{"seen", summary.seen}, {"written", summary.written}, {"failed", summary.failed}}},
      {"model",
       {{"file", model_file.uri()},
        {"sha256", model_sha256},
        {"feature_tensor", model.feature_tensor()},
        {"feature_dim", model.feature_dim()},
        {"precision", PrecisionName(options.model.precision)}}},
      {"preprocess", settings.preprocess.ToJson()},
      {"pca", PcaJson(pca)},
      {"files", {{"features", part_paths}, {"errors", {"errors/part-00000.parquet"}}, {"pca", "pca.parquet"}}},
      {"batch_size", options.batch_size},
      {"decode_threads", settings.decode_threads},
      {"timings", timings},
      {"wall_seconds", summary.wall_seconds},
      {"images_per_second", summary.images_per_second}};
  WriteText(output.success(), summary.manifest.dump(2) + "\n");
  return summary;
}

}  // namespace orchard
