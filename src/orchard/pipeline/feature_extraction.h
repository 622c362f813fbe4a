#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"
#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pipeline/progress.h"
#include "orchard/storage/location.h"

namespace orchard {

struct ExtractionSettings {
  Location input;
  Location staging_folder;  // feature parts without the pca column go here
  Location errors_file;
  PreprocessSpec preprocess;
  std::size_t batch_size = 32;
  int decode_threads = 1;
  std::size_t rows_per_part = 8192;
  std::uint64_t max_pixels = 0;
};

struct ExtractionResult {
  std::vector<Location> staged_parts;
  CovarianceAccumulator stats;
  std::int64_t rows_written = 0;
  std::int64_t rows_failed = 0;
};

// Pass one of a run: list → read + decode + preprocess (a pool of workers) → batched inference → write, each
// stage on its own threads joined by bounded queues. Features are staged to Parquet as they come and their
// covariance accumulated on the way, so the PCA needs no second copy of the feature matrix in memory.
// Throws Cancelled when `cancel` becomes true; the first failure of any stage is rethrown here.
ExtractionResult ExtractFeatures(const ExtractionSettings& settings, EmbeddingModel& model,
                                 ProgressReporter& progress, const std::atomic<bool>& cancel);

}  // namespace orchard
