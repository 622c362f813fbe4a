#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "orchard/pca/pca_model.h"

namespace orchard {

struct OpenSetOptions {
  // The threshold is this quantile of out-of-fold scores of the training rows: the expected fraction of
  // photos of known classes that are still answered (1 - quantile are wrongly called unknown).
  double quantile = 0.99;
  // Directions of the shared covariance kept, by the fraction of within-class variance they explain. The
  // CNN's features have directions of almost no variance (ReLU6 units that rarely fire), where a
  // Mahalanobis distance would divide by ~0 and measure noise.
  double variance_fraction = 0.99;
};

// "Unknown fruit" (open-set recognition) from the CNN features: the squared Mahalanobis distance with one
// covariance shared by all classes (the within-class covariance) to the nearest class mean, the score of
// Lee, Lee, Lee and Shin 2018, "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
// Adversarial Attacks" (NeurIPS), on the final features only (without their input perturbation and
// per-layer ensemble). The covariance is kept as its eigendecomposition (a PcaModel of the class-centred
// rows); a photo is unknown when its score exceeds `threshold`.
class OpenSetDetector {
 public:
  // `rows`: n row-major vectors of `dim` floats, `classes[i]` in [0, n_classes), every class present;
  // `folds[i]` in [0, k) (BlockedFolds()): the threshold is calibrated on the scores of each fold's rows
  // under a detector fitted on the other folds, i.e. on photos the detector has not seen, as a new photo
  // of a known fruit will be. Throws UsageError on inconsistent inputs.
  static OpenSetDetector Fit(std::span<const float> rows, std::size_t dim, std::span<const int> classes,
                             std::size_t n_classes, std::span<const int> folds,
                             const OpenSetOptions& options);

  // From the parts Describe() and whitening() saved. Throws IoError when they do not fit together.
  static OpenSetDetector FromParts(PcaModel whitening, const nlohmann::json& description);

  // Scores n row-major rows of dim() floats into `out` (n values; larger = farther from every class).
  // Throws std::invalid_argument on wrong sizes.
  void Score(std::span<const float> rows, std::size_t n, std::span<float> out) const;
  bool IsUnknown(float score) const { return score > threshold_; }

  double threshold() const { return threshold_; }
  std::size_t dim() const { return whitening_.dim(); }
  std::size_t n_classes() const { return static_cast<std::size_t>(means_.rows()); }
  const PcaModel& whitening() const { return whitening_; }
  // method, threshold, quantile, variance fraction, class means in the whitening's coordinates.
  nlohmann::json Describe() const;

 private:
  PcaModel whitening_;     // shared covariance: eigenvectors (rows) and eigenvalues
  Eigen::MatrixXd means_;  // n_classes x k, class means in the eigenvector coordinates
  OpenSetOptions options_;
  double threshold_ = 0.0;
};

}  // namespace orchard
