#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <cstdint>
#include <span>

#include "orchard/pca/covariance_accumulator.h"

namespace orchard {

// How many components to keep: a fixed k, or the fewest whose explained variance reaches a fraction.
struct PcaSelection {
  std::size_t k = 0;                // > 0: exactly min(k, dim) components
  double variance_fraction = 0.95;  // used when k == 0, in (0, 1]
};

// Exact PCA from the full covariance. Components are rows of `components`, ordered by decreasing explained
// variance; each component's sign is fixed so that its entry of largest magnitude is positive, which makes
// the result deterministic across runs and machines.
struct PcaModel {
  static constexpr std::int64_t kMinSamples = 2;  // a sample covariance needs two rows

  Eigen::VectorXd mean;                      // dim
  Eigen::MatrixXd components;                // k x dim, orthonormal rows
  Eigen::VectorXd explained_variance;        // k eigenvalues of the sample covariance, >= 0, descending
  Eigen::VectorXd explained_variance_ratio;  // k, each eigenvalue / total variance (0 when that is 0)
  double total_variance = 0.0;               // trace of the covariance
  std::int64_t n_samples = 0;

  // Throws UsageError when fewer than kMinSamples rows were seen or the selection is invalid, and
  // std::runtime_error when the covariance is not finite (NaN or infinite features).
  static PcaModel Fit(const CovarianceAccumulator& stats, const PcaSelection& selection);

  std::size_t dim() const { return static_cast<std::size_t>(mean.size()); }
  std::size_t k() const { return static_cast<std::size_t>(components.rows()); }

  // Centres and projects n row-major rows of dim() floats; writes n * k() row-major floats into `out`.
  // Computed in double and rounded once at the end. Thread-safe (const, no shared scratch).
  // Throws std::invalid_argument when rows.size() != n * dim() or out.size() != n * k().
  void Transform(std::span<const float> rows, std::size_t n, std::span<float> out) const;
};

}  // namespace orchard
