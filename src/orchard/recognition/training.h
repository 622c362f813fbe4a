#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "orchard/recognition/logistic_classifier.h"

namespace orchard {

// What `orchard train` (and orchard.train in Python) is told.
struct TrainOptions {
  std::string output;              // folder or URI written by `orchard run` (with _SUCCESS)
  std::string bundle;              // local folder to write the bundle to
  std::string split = "Training";  // rows whose path has this folder above the label folder
  ClassifierOptions classifier;    // classifier.standardize: z-score the PCA features first
};

struct TrainResult {
  std::size_t rows = 0;
  std::size_t labels = 0;
  double training_accuracy = 0.0;  // fraction (0..1) of training rows whose most probable class is their own
  nlohmann::json training;         // the bundle's provenance (bundle.json "training")
};

// Trains the logistic regression on the split's PCA features of a finished run and saves the bundle (model
// reference, preprocessing, PCA, classifier, labels). Progress goes to `log`. Throws UsageError (a split with
// fewer than two labels, or no rows), IoError (unreadable output, unwritable bundle).
TrainResult TrainBundle(const TrainOptions& options, std::ostream& log);

}  // namespace orchard
