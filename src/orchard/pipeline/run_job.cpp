#include "orchard/pipeline/run_job.h"

#include <chrono>
#include <optional>

#include "orchard/common/error.h"
#include "orchard/common/threads.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/pipeline/feature_extraction.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/pca_stage.h"
#include "orchard/pipeline/resume.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/storage/s3_filesystem.h"
#include "orchard/table/pca_model_file.h"

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The PCA of a job, or why there is none: a job with fewer rows than a PCA needs still finishes, its features
// written without the `pca` column and without pca.parquet.
struct PcaOutcome {
  std::optional<PcaModel> model;
  std::string skipped;  // the reason when `model` is empty
};

PcaOutcome FitPca(const ResumeState& state, const PcaSelection& selection) {
  if (state.stats.count() < PcaModel::kMinSamples) {
    return {std::nullopt, "PCA needs at least " + std::to_string(PcaModel::kMinSamples) +
                              " images with features, this job has " + std::to_string(state.stats.count()) +
                              "; features are written without the pca column"};
  }
  return {PcaModel::Fit(state.stats, selection), ""};
}

nlohmann::json PcaJson(const PcaOutcome& pca) {
  if (!pca.model) return {{"skipped", pca.skipped}, {"k", 0}};
  return {{"file", "pca.parquet"},
          {"k", pca.model->k()},
          {"dim", pca.model->dim()},
          {"n_samples", pca.model->n_samples},
          {"explained_variance_ratio", pca.model->explained_variance_ratio.sum()}};
}

nlohmann::json Manifest(const RunSummary& summary, const Location& input, const LoadedModel& loaded,
                        const RunOptions& options, const ExtractionSettings& settings, const PcaOutcome& pca,
                        const ResumeState& state, const std::vector<std::string>& final_parts) {
  const auto relative = [&](const std::string& folder, const std::vector<std::string>& names) {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& name : names) paths.push_back(folder + "/" + name);
    return paths;
  };
  std::vector<std::string> error_names;
  for (const auto& part : state.error_parts) error_names.push_back(part.name());
  return {{"orchard_version", ORCHARD_VERSION},
          {"input", input.uri()},
          {"counts", {{"seen", summary.seen}, {"written", summary.written}, {"failed", summary.failed}}},
          {"model",
           {{"file", loaded.file.uri()},
            {"sha256", loaded.sha256},
            {"feature_tensor", loaded.model.feature_tensor()},
            {"feature_dim", loaded.model.feature_dim()},
            {"precision", PrecisionName(options.model.precision)},
            {"static_batch", loaded.model.static_batch()},
            {"streams", loaded.model.streams()}}},
          {"preprocess", settings.preprocess.ToJson()},
          {"pca", PcaJson(pca)},
          {"files",
           {{"features", relative("features", final_parts)},
            {"errors", relative("errors", error_names)},
            {"pca", pca.model ? nlohmann::json("pca.parquet") : nlohmann::json()}}},
          {"batch_size", options.model.batch_size},
          {"io_threads", settings.read_threads},
          {"decode_threads", settings.decode_threads},
          {"wall_seconds", summary.wall_seconds},
          {"attempt", {{"number", state.attempt}, {"images", summary.attempt_images}}},
          {"images_per_second", summary.images_per_second}};
}

}  // namespace

RunSummary RunJob(const RunOptions& options, const std::atomic<bool>& cancel, std::ostream& log) {
  const auto start = Clock::now();
  nlohmann::json timings;
  SetS3Endpoint(options.s3_endpoint);
  const Location input = ResolveLocation(options.input);
  if (GetEntryType(input) == EntryType::kMissing) throw IoError(input.uri() + ": " + DescribeMissing(input));
  const OutputLayout output{ResolveLocation(options.output)};

  auto stage_start = Clock::now();
  LoadedModel loaded = LoadModel(options.model);
  timings["model_load_seconds"] = SecondsSince(stage_start);
  log << loaded.model.contract().NotesText();
  ExtractionSettings settings{input,
                              output.staging(),
                              output.errors(),
                              loaded.model.contract().Spec(options.preprocess_preset),
                              options.io_threads,
                              ThreadsOrCores(options.threads),
                              options.rows_per_part,
                              options.max_pixels,
                              options.max_file_bytes};
  const auto identity = JobIdentity(input.uri(), loaded.sha256, options.model.feature_tensor,
                                    std::string(PrecisionName(options.model.precision)),
                                    settings.preprocess.ToJson(), options.max_pixels, options.max_file_bytes);
  ResumeState state = PrepareAttempt(output, input, identity, loaded.model.feature_dim(),
                                     {options.overwrite, options.overwrite_bucket_root});
  const std::int64_t kept_images = state.rows_written + state.rows_failed;
  if (state.resumed) {
    log << "orchard: resuming " << output.root.uri() << ": " << state.done.size()
        << " inputs done by earlier attempts are kept\n";
  }

  ProgressReporter progress(log, IsTerminal(2), "features", options.progress_listener);
  stage_start = Clock::now();
  try {
    ExtractFeatures(settings, loaded.model, progress, cancel, state);
  } catch (const IoError& e) {
    throw IoError(std::string(e.what()) + "; finished parts are kept, run again to resume");
  }
  progress.Finish();
  timings["features_seconds"] = SecondsSince(stage_start);

  stage_start = Clock::now();
  Failpoint("pca-fit");
  const PcaOutcome pca = FitPca(state, options.pca);
  if (pca.model) {
    WritePcaModel(*pca.model, output.pca_model().fs, output.pca_model().path);
  } else {
    log << "orchard: " << pca.skipped << "\n";
  }
  timings["pca_fit_seconds"] = SecondsSince(stage_start);
  stage_start = Clock::now();
  const auto final_parts =
      WriteFinalParts(state.staged_parts, output.features(), pca.model ? &*pca.model : nullptr);
  timings["pca_transform_write_seconds"] = SecondsSince(stage_start);

  RunSummary summary;
  summary.written = state.rows_written;
  summary.failed = state.rows_failed;
  summary.seen = summary.written + summary.failed;
  summary.attempt_images = summary.seen - kept_images;
  summary.wall_seconds = SecondsSince(start);
  // This attempt's work over this attempt's time: rows kept from earlier attempts cost it nothing.
  summary.images_per_second = static_cast<double>(summary.attempt_images) / summary.wall_seconds;
  summary.manifest = Manifest(summary, input, loaded, options, settings, pca, state, final_parts);
  summary.manifest["timings"] = timings;
  WriteRunManifest(output, summary.manifest);
  // Only now: until _SUCCESS exists, the staged parts are what a resumed attempt builds on.
  ThrowIfError(output.root.fs->DeleteDir(output.staging().path), output.staging().uri());
  return summary;
}

}  // namespace orchard
