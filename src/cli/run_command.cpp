#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/option_checks.h"
#include "cli/signals.h"
#include "orchard/common/config.h"
#include "orchard/common/error.h"
#include "orchard/pipeline/run_job.h"

namespace orchard::cli {
namespace {

struct RunArguments {
  RunOptions options;
  std::string model = DefaultModelPath().string();
  std::string precision = "f32";
  double pca_variance = 0.95;
};

void PrintSummary(const RunSummary& summary, const std::string& output) {
  std::cout << std::fixed << std::setprecision(1) << "orchard: " << summary.seen << " images ("
            << summary.written << " written, " << summary.failed << " failed) in " << summary.wall_seconds
            << " s: " << summary.images_per_second << " images/s -> " << output << "\n";
  if (summary.failed > 0) {
    std::cout << "orchard: " << summary.failed << " inputs failed; see " << output
              << "/errors (orchard inspect shows them)\n";
  }
}

}  // namespace

CommandAction RegisterRunCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("run", "Featurise images: decode, preprocess, CNN features, PCA, Parquet.");
  auto args = std::make_shared<RunArguments>();
  auto& o = args->options;
  command
      ->add_option("--input,-i", o.input,
                   "Folder in the layout <root>/[<split>/]<Label>/<file> (label = parent folder), or a text "
                   "manifest with one path per line (optionally TAB label); a local path or an s3:// URI")
      ->required();
  command
      ->add_option("--output,-o", o.output,
                   "Output folder (features/, errors/, pca.parquet, _SUCCESS); a local path or an "
                   "s3:// URI")
      ->required();
  command->add_option("--model,-m", args->model, "ONNX or TFLite model; a local path or an s3:// URI")
      ->capture_default_str();
  command->add_option("--feature-tensor", o.model.feature_tensor,
                      "Tensor to cut the model at (default: the input of its global average pool); a "
                      "spatial tensor is globally average-pooled");
  command
      ->add_option(
          "--preprocess", o.preprocess_preset,
          "Preprocessing preset: imagenet, caffe, tf, raw or unit (default: for a uint8/int8 input the "
          "preset its quantisation stands for, for a graph that normalises its own input the pixels it "
          "expects, else imagenet; `orchard describe-model` says which)")
      ->check(CLI::IsMember(std::vector<std::string>(kPresetNames.begin(), kPresetNames.end())));
  auto* k = command->add_option("--pca-k", o.pca.k, "Number of PCA components (at most the model's features)")
                ->check(WholeNumberAtLeast(1));
  command
      ->add_option("--pca-variance", args->pca_variance,
                   "Keep the fewest PCA components explaining this fraction of the variance")
      ->check(FractionAboveZero())
      ->excludes(k)
      ->capture_default_str();
  command->add_option("--precision", args->precision, "Inference precision")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  command->add_option("--batch", o.model.batch_size, "Images per inference call (the model's static batch)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command
      ->add_option(
          "--streams", o.model.streams,
          "Inference streams, batches in flight at once: 0 = OpenVINO's throughput choice (a stream per "
          "core); 1 = one stream across all cores")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  command
      ->add_option("--threads", o.threads,
                   "Decode/preprocess workers and inference threads (0 = one per core)")
      ->check(WholeNumberAtLeast(0))
      ->capture_default_str();
  command
      ->add_option("--io-threads", o.io_threads,
                   "Concurrent reads of input files or objects (hide an object store's latency)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command
      ->add_option("--max-pixels", o.max_pixels,
                   "Refuse images announcing more pixels than this (decompression bombs)")
      ->check(WholeNumberAtLeast(1))
      ->capture_default_str();
  command
      ->add_option("--max-file-bytes", o.max_file_bytes,
                   "Input files larger than this are error rows, refused before reading; also the most file "
                   "bytes held between reading and decoding")
      ->check(WholeNumberAtLeast(1))
      ->capture_default_str();
  command->add_option("--rows-per-part", o.rows_per_part, "Rows per Parquet part file")
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  auto* overwrite = command->add_flag(
      "--overwrite", o.overwrite,
      "Replace a non-empty output: deletes only orchard's own files there (features/, errors/, _staging/, "
      "_job.json, _SUCCESS, pca*.parquet, inputs*.parquet, index.faiss, index_keys.parquet); refuses an "
      "output holding anything else, or "
      "overlapping the input");
  command
      ->add_flag("--incremental", o.incremental,
                 "Update a finished job in the output: featurise only new inputs and inputs replaced since "
                 "(size or modification time changed) or relabelled by a manifest, retry error rows, drop "
                 "deleted inputs, refit the PCA over all rows; on an empty output, an ordinary run")
      ->excludes(overwrite);
  command
      ->add_flag("--overwrite-bucket-root", o.overwrite_bucket_root,
                 "Allow --overwrite when the output is a whole bucket (s3://bucket)")
      ->needs(overwrite);
  command->add_option("--s3-endpoint", o.s3_endpoint,
                      "S3-compatible endpoint for s3:// URIs, e.g. http://127.0.0.1:7070 (default: "
                      "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS); credentials come from the AWS "
                      "credential chain");

  return [args] {
    RunOptions options = args->options;
    options.model.path = args->model;
    options.model.precision = ParsePrecision(args->precision);
    options.model.threads = options.threads;
    options.pca.variance_fraction = args->pca_variance;
    const auto& stop = InstallStopHandler();
    try {
      const RunSummary summary = RunJob(options, stop, std::cerr);
      PrintSummary(summary, options.output);
      return summary.failed > 0 ? kExitPartialFailure : kExitSuccess;
    } catch (const Cancelled&) {
      std::cerr << "orchard: interrupted; " << options.output << " has no _SUCCESS\n";
      return kExitInterrupted;
    }
  };
}

}  // namespace orchard::cli
