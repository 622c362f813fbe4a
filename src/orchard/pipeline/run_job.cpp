#include "orchard/pipeline/run_job.h"

#include <chrono>
#include <numeric>
#include <optional>
#include <span>

#include "orchard/common/error.h"
#include "orchard/common/threads.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/pipeline/feature_extraction.h"
#include "orchard/pipeline/incremental.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/pca_stage.h"
#include "orchard/pipeline/resume.h"
#include "orchard/pipeline/run_manifest.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/storage/input_listing.h"
#include "orchard/storage/s3_filesystem.h"
#include "orchard/table/input_inventory.h"
#include "orchard/table/moments_file.h"
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

PcaOutcome FitPca(const CovarianceAccumulator& stats, const PcaSelection& selection, std::ostream& log) {
  if (stats.count() < PcaModel::kMinSamples) {
    return {std::nullopt, "PCA needs at least " + std::to_string(PcaModel::kMinSamples) +
                              " images with features, this job has " + std::to_string(stats.count()) +
                              "; features are written without the pca column"};
  }
  // n centred rows span at most n - 1 directions: the components past them are arbitrary directions of zero
  // variance. They are kept (the pca column has the k values asked for) but said.
  const auto spanned = static_cast<std::size_t>(stats.count() - 1);
  if (selection.k > spanned) {
    log << "orchard: warning: --pca-k " << selection.k << " asks for more components than the "
        << stats.count() << " images with features span (" << spanned << "); the last "
        << selection.k - spanned << " carry no variance\n";
  }
  return {PcaModel::Fit(stats, selection), ""};
}

// The parts of the job as _SUCCESS lists them: the parts written, without those left empty.
struct WrittenParts {
  std::vector<std::string> features;  // relative to the output root
  std::vector<std::string> errors;
  std::int64_t carried_rows = 0;    // feature rows kept from the job an update started from
  std::int64_t carried_errors = 0;  // error rows kept from it
};

void AddWritten(std::span<const PartCopy> parts, std::span<const std::int64_t> rows,
                const std::string& folder, std::vector<std::string>& names) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (rows[i] > 0) names.push_back(folder + "/" + parts[i].destination.name());
  }
}

std::int64_t Sum(std::span<const std::int64_t> values) {
  return std::accumulate(values.begin(), values.end(), std::int64_t{0});
}

// Pass two: the staged parts with their pca column, and an update's carried parts (the finished job's rows,
// without the dropped ones, with the new pca column).
WrittenParts WriteParts(const OutputLayout& output, const ResumeState& state, const PcaModel* pca,
                        const PathSet& dropped) {
  WrittenParts written;
  std::vector<PartCopy> staged;
  for (const auto& part : state.staged_parts)
    staged.push_back({part, output.features().child(part.name()), SupersededRows(state, part)});
  AddWritten(staged, WriteFeatureParts(staged, pca), "features", written.features);
  for (const auto& part : state.error_parts) written.errors.push_back("errors/" + part.name());
  if (!state.previous) return written;
  const auto features =
      CarriedParts(state.previous->feature_parts, output.features(), state.attempt, dropped);
  const auto feature_rows = WriteFeatureParts(features, pca);
  AddWritten(features, feature_rows, "features", written.features);
  const auto errors = CarriedParts(state.previous->error_parts, output.errors(), state.attempt, dropped);
  const auto error_rows = WriteErrorParts(errors);
  AddWritten(errors, error_rows, "errors", written.errors);
  written.carried_rows = Sum(feature_rows);
  written.carried_errors = Sum(error_rows);
  return written;
}

// What `orchard run` tells RunManifest(); its own keys: the model's compiled batch and streams, and threads.
ManifestFacts Facts(const RunSummary& summary, const Location& input, const LoadedModel& loaded,
                    const RunOptions& options, const ExtractionSettings& settings, const PcaOutcome& pca,
                    const ResumeState& state, const WrittenParts& parts, const CommitFiles& files) {
  ManifestFacts facts;
  facts.input = input.uri();
  facts.written = summary.written;
  facts.failed = summary.failed;
  facts.model = {loaded.file.uri(), loaded.sha256, loaded.model.feature_tensor(), loaded.model.feature_dim(),
                 std::string(PrecisionName(options.model.precision))};
  facts.model_engine = {{"streams", loaded.model.streams()}};
  facts.preprocess = settings.preprocess.ToJson();
  if (pca.model) {
    facts.pca = PcaFacts{pca.model->k(), pca.model->dim(), pca.model->n_samples,
                         pca.model->explained_variance_ratio.sum()};
  }
  facts.pca_skipped = pca.skipped;
  facts.feature_parts = parts.features;
  facts.error_parts = parts.errors;
  facts.pca_file = files.pca;
  facts.moments_file = files.moments;
  facts.inputs_file = files.inputs;
  facts.batch_size = options.model.batch_size;
  facts.attempt = state.attempt;
  facts.attempt_images = summary.attempt_images;
  facts.wall_seconds = summary.wall_seconds;
  facts.engine = {{"io_threads", settings.read_threads}, {"decode_threads", settings.decode_threads}};
  return facts;
}

}  // namespace

RunSummary RunJob(const RunOptions& options, const std::atomic<bool>& cancel, std::ostream& log) {
  const auto start = Clock::now();
  nlohmann::json timings;
  SetS3Endpoint(options.s3_endpoint);
  const Location input = ResolveLocation(options.input);
  const EntryType input_type = GetEntryType(input);
  if (input_type == EntryType::kMissing) throw IoError(input.uri() + ": " + DescribeMissing(input));
  if (input_type == EntryType::kFile) CheckManifestIsText(input);
  const OutputLayout output{ResolveLocation(options.output)};

  auto stage_start = Clock::now();
  LoadedModel loaded = LoadModel(options.model);
  timings["model_load_seconds"] = SecondsSince(stage_start);
  if (options.pca.k > loaded.model.feature_dim()) {  // before any work, not after featurising
    throw UsageError("--pca-k " + std::to_string(options.pca.k) + " asks for more PCA components than the " +
                     std::to_string(loaded.model.feature_dim()) + " features per image of " +
                     loaded.file.uri() + " at its feature tensor");
  }
  log << loaded.model.NotesText();
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
                                     {options.overwrite, options.overwrite_bucket_root, options.incremental});
  const std::int64_t kept_images = state.rows_written + state.rows_failed;
  if (state.resumed) {
    log << "orchard: resuming " << output.root.uri() << ": " << state.done.size()
        << " inputs done by earlier attempts are kept unless replaced or deleted since\n";
  }
  if (state.previous) {
    log << "orchard: updating " << output.root.uri() << ": " << state.previous->inputs.size()
        << " inputs of the finished job are kept unless deleted or replaced since\n";
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
  // Counted before SettleEarlierRows takes the superseded rows of earlier attempts out of rows_written.
  const std::int64_t attempt_images = state.rows_written + state.rows_failed - kept_images;
  if (const auto changed = SettleEarlierRows(state); changed > 0) {
    log << "orchard: " << changed
        << " inputs were replaced or deleted since an earlier attempt featurised them: their rows are "
           "replaced or dropped\n";
  }

  stage_start = Clock::now();
  Failpoint("pca-fit");
  const CarriedRows carried = CarryPrevious(state, loaded.model.feature_dim());
  CovarianceAccumulator moments = carried.moments;
  moments.Merge(state.stats);
  const PcaOutcome pca = FitPca(moments, options.pca, log);
  const CommitFiles files = CommitFilesOf(state);
  if (pca.model) {
    WritePcaModel(*pca.model, output.root.fs, output.root.child(files.pca).path);
  } else {
    log << "orchard: " << pca.skipped << "\n";
  }
  WriteMoments(moments, output.root.child(files.moments));
  WriteInputInventory(state.listed, output.root.child(files.inputs));
  timings["pca_fit_seconds"] = SecondsSince(stage_start);
  stage_start = Clock::now();
  const WrittenParts parts = WriteParts(output, state, pca.model ? &*pca.model : nullptr, carried.dropped);
  timings["pca_transform_write_seconds"] = SecondsSince(stage_start);

  RunSummary summary;
  summary.written = state.rows_written + parts.carried_rows;
  summary.failed = state.rows_failed + parts.carried_errors;
  summary.seen = summary.written + summary.failed;
  summary.attempt_images = attempt_images;
  summary.wall_seconds = SecondsSince(start);
  // This attempt's work over this attempt's time: rows kept from earlier attempts cost it nothing.
  summary.images_per_second = static_cast<double>(summary.attempt_images) / summary.wall_seconds;
  ManifestFacts facts = Facts(summary, input, loaded, options, settings, pca, state, parts, files);
  facts.timings = timings;
  if (state.previous) facts.incremental = carried.changes;
  summary.manifest = RunManifest(facts);
  WriteRunManifest(output, summary.manifest);
  // Only now: until _SUCCESS exists, the staged parts are what a resumed attempt builds on, and the finished
  // job's files what its readers read.
  if (state.previous) {
    DeleteReplacedFiles(output, state.previous->manifest, summary.manifest);
    if (state.previous->manifest.contains("index")) {
      log << "orchard: the index of `orchard index` described the old rows and was deleted; run orchard "
             "index "
             "again\n";
    }
  }
  ThrowIfError(output.root.fs->DeleteDir(output.staging().path), output.staging().uri());
  return summary;
}

}  // namespace orchard
