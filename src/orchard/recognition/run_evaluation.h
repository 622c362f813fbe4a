#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace orchard {

// What `orchard eval` (and orchard.evaluate in Python) is told.
struct EvaluateOptions {
  std::string output;  // folder or URI written by `orchard run` with the bundle's model and preprocessing
  std::string bundle;  // bundle folder written by TrainBundle()
  std::string split = "Test";
  std::string report;  // folder for metrics.json and report.html; empty: no files are written
};

// Classifies the split's features with the bundle's own PCA and classifier (exactly what predict and serve
// run) and returns the metrics (Evaluation::ToJson() plus split, output and bundle, and "open_set":
// EvaluateOpenSet() when the bundle has an unknown-fruit detector). Warnings (evaluating on
// the training split, labels unknown to the bundle) go to `log`. Throws UsageError (another model or
// preprocessing than the bundle's, no rows of the split), IoError (unreadable output or bundle, unwritable
// report), ModelError.
nlohmann::json EvaluateBundle(const EvaluateOptions& options, std::ostream& log);

}  // namespace orchard
