#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <Eigen/Dense>

namespace orchard {

// Streaming mean and covariance of feature rows in double precision, without keeping the rows.
// Batches are centred on their own mean and merged with Chan et al.'s pairwise update, which stays accurate
// where the naive sum-of-squares formula cancels. Accumulators of different threads or partitions Merge().
class CovarianceAccumulator {
 public:
  explicit CovarianceAccumulator(std::size_t dim);

  // `rows` holds n rows of dim() floats.
  void AddRows(std::span<const float> rows, std::size_t n);
  void Merge(const CovarianceAccumulator& other);

  std::size_t dim() const { return static_cast<std::size_t>(mean_.size()); }
  std::int64_t count() const { return count_; }
  const Eigen::VectorXd& mean() const { return mean_; }
  // Sum of outer products of the centred rows (the scatter matrix).
  const Eigen::MatrixXd& scatter() const { return scatter_; }
  // Sample covariance, divided by count() - 1.
  Eigen::MatrixXd covariance() const;

 private:
  std::int64_t count_ = 0;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd scatter_;
};

}  // namespace orchard
