#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace orchard {

// The model a job's features were made with, as _SUCCESS records it (`orchard train` / `eval` check it).
struct ModelFacts {
  std::string file;            // path or URI as given
  std::string sha256;          // of the model file's bytes
  std::string feature_tensor;  // the output read as features
  std::size_t feature_dim = 0;
  std::string precision;  // f32 | bf16 | int8
};

// The PCA a job fitted (pca.parquet), summed up.
struct PcaFacts {
  std::size_t k = 0;
  std::size_t dim = 0;
  std::int64_t n_samples = 0;
  double explained_variance_ratio = 0.0;  // of the k components together
};

// Everything _SUCCESS records about a finished job, whichever engine ran it (`orchard run`, the Spark job).
struct ManifestFacts {
  std::string input;  // URI as the job names it
  std::int64_t written = 0;
  std::int64_t failed = 0;
  ModelFacts model;
  nlohmann::json preprocess;  // PreprocessSpec::ToJson()
  std::optional<PcaFacts> pca;
  std::string pca_skipped;  // why there is no PCA (too few rows), when `pca` is empty
  // Files relative to the output root: parts, PCA model, moments and input inventory (incremental.h).
  std::vector<std::string> feature_parts;
  std::vector<std::string> error_parts;
  std::string pca_file;
  std::string moments_file;
  std::string inputs_file;
  int batch_size = 0;
  int attempt = 0;                                    // number of the attempt that finished the job
  std::int64_t attempt_images = 0;                    // images this attempt featurised (the model's inputs)
  double wall_seconds = 0.0;                          // this attempt's
  nlohmann::json timings = nlohmann::json::object();  // stage -> seconds, as the engine names its stages
  nlohmann::json incremental;  // an update's counts (CarriedRows::changes); null for a fresh job
  // Keys only one engine has (its threads, Spark's master and workers): merged into the manifest's top
  // level and into its "model".
  nlohmann::json engine = nlohmann::json::object();
  nlohmann::json model_engine = nlohmann::json::object();
};

// The _SUCCESS manifest of a finished job (README, "Output format"): the one place its schema is written,
// for `orchard run` (RunJob) and for the Spark job (orchard._core.run_manifest). counts.seen = written +
// failed; images_per_second = attempt_images / wall_seconds (0 for a zero wall time). Throws UsageError when
// an engine-specific key would replace a key of the schema.
nlohmann::json RunManifest(const ManifestFacts& facts);

}  // namespace orchard
