#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "orchard/recognition/logistic_classifier.h"
#include "orchard/recognition/open_set.h"

namespace orchard {

// What `orchard train` (and orchard.train in Python) is told.
struct TrainOptions {
  std::string output;              // folder or URI written by `orchard run` (with _SUCCESS)
  std::string bundle;              // local folder to write the bundle to
  std::string split = "Training";  // rows whose path has this folder above the label folder
  std::string input = "features";  // the column the classifier reads: "features" (the CNN's) or "pca"
  ClassifierOptions classifier;    // classifier.c is used when c_candidates is empty
  // With two or more values, C is chosen among them by cv_folds-fold cross-validation on the split
  // (BlockedFolds()); the highest accuracy wins, the smaller C on a tie. The default is the choice of that
  // cross-validation on the sample's Training split (docs/recognition.md): one fit instead of seven.
  std::vector<double> c_candidates = {1.0};
  std::size_t cv_folds = 5;  // also the folds that calibrate the unknown-fruit threshold
  // Labels left out of training (evaluating the unknown-fruit threshold on fruit the bundle never saw).
  std::vector<std::string> exclude_labels;
  OpenSetOptions open_set;  // the unknown-fruit detector, calibrated on the same folds
};

struct TrainResult {
  std::size_t rows = 0;
  std::size_t labels = 0;
  double training_accuracy = 0.0;  // fraction (0..1) of training rows whose most probable class is their own
  nlohmann::json training;         // the bundle's provenance (bundle.json "training"), with
                                   // "cross_validation": [{c, accuracy}] when C was chosen by it
};

// Trains the logistic regression on the split's features (or PCA projection) of a finished run and saves the
// bundle (model reference, preprocessing, PCA, classifier, labels). Progress goes to `log`. Throws UsageError
// (a split with fewer than two labels, or no rows, a class with fewer rows than folds, an unknown input, an
// excluded label the split does not have, a bundle folder holding anything but a bundle:
// Bundle::CheckFolder), IoError (unreadable output, unwritable bundle).
TrainResult TrainBundle(const TrainOptions& options, std::ostream& log);

}  // namespace orchard
