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
  double wall_seconds = 0.0;
  double images_per_second = 0.0;
  nlohmann::json manifest;  // what was written to _SUCCESS
};

// `orchard run`: features of every input image, PCA over all of them, and the output folder (README, "Output
// format"), `_SUCCESS` last. Progress goes to `log`. Throws UsageError, IoError, ModelError, or Cancelled
// when `cancel` becomes true (the output is then left without `_SUCCESS`).
RunSummary RunJob(const RunOptions& options, const std::atomic<bool>& cancel, std::ostream& log);

}  // namespace orchard
