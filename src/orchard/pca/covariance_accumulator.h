#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <cstdint>
#include <span>

namespace orchard {

// Streaming mean and covariance of feature rows in double precision, without keeping the rows.
// Batches are centred on their own mean and merged with Chan et al.'s pairwise update, which stays accurate
// where the naive sum-of-squares formula cancels. Accumulators of different threads or partitions Merge().
// Not thread-safe: give each thread its own accumulator and Merge() them.
class CovarianceAccumulator {
 public:
  // The widest rows it takes: a dim x dim scatter of doubles is 512 MiB at 8,192, and LAPACK's eigensolver
  // (pca_model.h) needs about three times that and minutes; a flattened map (VGG's 25,088 values, a ViT's
  // tokens) would take tens of GiB and hours, uninterruptibly.
  static constexpr std::size_t kMaxDim = 8192;

  // Throws std::invalid_argument when dim is 0, UsageError when it is over kMaxDim (before allocating).
  explicit CovarianceAccumulator(std::size_t dim);

  // `rows` holds n row-major rows of dim() floats; throws std::invalid_argument when its size is not n *
  // dim(). Every call also passes over the whole dim x dim matrix (a rank-1 merge), so callers that get rows
  // a few at a time should gather kRowsPerUpdate of them first.
  void AddRows(std::span<const float> rows, std::size_t n);
  static constexpr std::size_t kRowsPerUpdate = 256;
  // Adds the rows `other` has seen. Throws std::invalid_argument when the dimensions differ.
  void Merge(const CovarianceAccumulator& other);
  // Takes out rows that were added before: `part` must describe a subset of this accumulator's rows (e.g. the
  // rows of inputs deleted since an earlier run, whose total was stored). Chan's update run backwards, so the
  // result equals an accumulator of the remaining rows up to rounding (relative to the removed part's
  // scatter, small while `part` is a small share of the rows). Throws std::invalid_argument when the
  // dimensions differ or `part` has more rows than this accumulator.
  void Subtract(const CovarianceAccumulator& part);
  // Rebuilds an accumulator from what another one reported (count(), mean(), scatter()), e.g. a partial sent
  // by a Spark executor. Throws std::invalid_argument when the shapes disagree or count is negative.
  static CovarianceAccumulator FromMoments(std::int64_t count, const Eigen::VectorXd& mean,
                                           const Eigen::MatrixXd& scatter);

  std::size_t dim() const { return static_cast<std::size_t>(mean_.size()); }
  std::int64_t count() const { return count_; }
  const Eigen::VectorXd& mean() const { return mean_; }
  // Sum of outer products of the centred rows (the scatter matrix), dim x dim and symmetric.
  Eigen::MatrixXd scatter() const;
  // Sample covariance, the scatter divided by count() - 1. Throws UsageError when count() < 2.
  Eigen::MatrixXd covariance() const;

 private:
  // Folds in a group of n rows with mean `mean` whose scatter was already added to scatter_.
  void MergeMoments(std::int64_t n, const Eigen::VectorXd& mean);

  std::int64_t count_ = 0;
  Eigen::VectorXd mean_;
  // Only the lower triangle is maintained: the symmetric rank-k updates write half the matrix, which halves
  // the work of the hot path. scatter() and covariance() mirror it.
  Eigen::MatrixXd scatter_lower_;
};

}  // namespace orchard
