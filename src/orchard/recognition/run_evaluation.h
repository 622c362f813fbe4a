#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "orchard/recognition/bundle.h"

namespace orchard {

// What `orchard eval` (and orchard.evaluate in Python) is told.
struct EvaluateOptions {
  std::string output;  // folder or URI written by `orchard run` with the bundle's model and preprocessing
  std::string bundle;  // bundle folder written by TrainBundle()
  std::string split = "Test";
  std::string report;  // folder for metrics.json and report.html; empty: no files are written
};

// Throws UsageError unless the output's features (its _SUCCESS `manifest`) were made with the bundle's model,
// feature tensor, precision and preprocessing: features from another would be classified (or searched)
// without complaint and wrongly (bf16 or int8 features differ from f32's: cosine 0.98 for int8).
void CheckSameFeatures(const Bundle& bundle, const nlohmann::json& manifest, const std::string& output);

// Classifies the split's features with the bundle's own PCA and classifier (exactly what predict and serve
// run) and returns the metrics (Evaluation::ToJson() plus split, output, bundle, leakage_free: the same
// figures on the rows with no near-duplicate in the bundle's training split, LeakageFreeMetrics(), and
// "open_set": EvaluateOpenSet() when the bundle has an unknown-fruit detector). Warnings (evaluating on the
// training split, labels unknown to the bundle) go to `log`. Throws UsageError (another model or
// preprocessing than the bundle's, no rows of the split), IoError (unreadable output or bundle, unwritable
// report), ModelError.
nlohmann::json EvaluateBundle(const EvaluateOptions& options, std::ostream& log);

}  // namespace orchard
