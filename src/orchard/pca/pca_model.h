#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <Eigen/Dense>

#include "orchard/pca/covariance_accumulator.h"

namespace orchard {

// How many components to keep: a fixed k, or the fewest whose explained variance reaches a fraction.
struct PcaSelection {
  std::size_t k = 0;                  // > 0: exactly min(k, dim) components
  double variance_fraction = 0.95;    // used when k == 0, in (0, 1]
};

// Exact PCA from the full covariance. Components are rows of `components`, ordered by decreasing explained
// variance; each component's sign is fixed so that its entry of largest magnitude is positive, which makes
// the result deterministic across runs and machines.
struct PcaModel {
  Eigen::VectorXd mean;                      // dim
  Eigen::MatrixXd components;                // k x dim, orthonormal rows
  Eigen::VectorXd explained_variance;        // k eigenvalues of the sample covariance
  Eigen::VectorXd explained_variance_ratio;  // k, each eigenvalue / total variance
  double total_variance = 0.0;               // trace of the covariance
  std::int64_t n_samples = 0;

  // Throws UsageError when fewer than two rows were seen or the selection is invalid.
  static PcaModel Fit(const CovarianceAccumulator& stats, const PcaSelection& selection);

  std::size_t dim() const { return static_cast<std::size_t>(mean.size()); }
  std::size_t k() const { return static_cast<std::size_t>(components.rows()); }

  // Centres and projects n rows of dim() floats; writes n * k() floats into `out`.
  void Transform(std::span<const float> rows, std::size_t n, std::span<float> out) const;
};

}  // namespace orchard
