#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "orchard/recognition/logistic_classifier.h"

namespace orchard {

// Fold (0..k-1) of each row for k-fold cross-validation on frames of rotating fruit (Fruits-360 photos are
// video frames, numbered in their file names): within each class the rows are put in the natural order of
// their paths (the file name's first number, then the path) and cut into k contiguous blocks, so a fold is a
// stretch of each rotation. Random folds would put each frame's near-copies on both sides and rate every
// variant ~1.0. Throws UsageError naming a class with fewer than k rows, or when k < 2.
std::vector<int> BlockedFolds(std::span<const std::string> paths, std::span<const int> classes,
                              std::size_t n_classes, std::size_t k);

// Top-1 accuracy (0..1) of `options` over all rows, each predicted by a classifier trained on the other
// folds (liblinear trains every fold). `rows`: n row-major vectors of `dim` floats. Throws as
// LogisticClassifier::Train, and UsageError when sizes disagree.
double CrossValidatedAccuracy(std::span<const float> rows, std::size_t dim, std::span<const int> classes,
                              std::size_t n_classes, std::span<const int> folds,
                              const ClassifierOptions& options);

}  // namespace orchard
