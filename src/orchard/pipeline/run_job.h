#pragma once

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>

#include "orchard/pipeline/run_options.h"

namespace orchard {

struct RunSummary {
  std::int64_t seen = 0;
  std::int64_t written = 0;
  std::int64_t failed = 0;
  std::int64_t attempt_images = 0;  // of `seen`, processed by this attempt (not kept from an earlier one)
  double wall_seconds = 0.0;        // this attempt's
  double images_per_second = 0.0;   // attempt_images / wall_seconds
  nlohmann::json manifest;          // what was written to _SUCCESS
};

// `orchard run`: features of every input image, PCA over all of them, and the output folder (README, "Output
// format"), `_SUCCESS` last. With fewer than PcaModel::kMinSamples images with features (one image, or all
// inputs bad) the job still finishes: features without `pca`, no pca.parquet, and _SUCCESS says why. Progress
// goes to `log`. Throws UsageError, IoError, ModelError, or Cancelled when `cancel` becomes true (the output
// is then left without `_SUCCESS`).
RunSummary RunJob(const RunOptions& options, const std::atomic<bool>& cancel, std::ostream& log);

}  // namespace orchard
