#include "orchard/pca/covariance_accumulator.h"

#include <cblas.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "orchard/common/error.h"

namespace orchard {
namespace {

using RowMajorFloats = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::MatrixXd MirrorLower(const Eigen::MatrixXd& lower) {
  Eigen::MatrixXd full = lower.selfadjointView<Eigen::Lower>();
  return full;
}

Eigen::Index CheckedDim(std::size_t dim) {
  if (dim == 0) throw std::invalid_argument("CovarianceAccumulator: dimension must be positive");
  if (dim > CovarianceAccumulator::kMaxDim) {
    const double gib = static_cast<double>(dim) * static_cast<double>(dim) * 8.0 / (1 << 30);
    throw UsageError("features of " + std::to_string(dim) +
                     " values per image: the PCA's covariance would be " + std::to_string(dim) + " x " +
                     std::to_string(dim) + " doubles (" + std::to_string(static_cast<int>(std::ceil(gib))) +
                     " GiB) and its eigensolver hours; it takes at most " +
                     std::to_string(CovarianceAccumulator::kMaxDim) +
                     ": cut at a pooled tensor (orchard describe-model lists the candidates)");
  }
  return static_cast<Eigen::Index>(dim);
}

}  // namespace

CovarianceAccumulator::CovarianceAccumulator(std::size_t dim)
    : mean_(Eigen::VectorXd::Zero(CheckedDim(dim))),
      scatter_lower_(Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(dim), static_cast<Eigen::Index>(dim))) {}

void CovarianceAccumulator::AddRows(std::span<const float> rows, std::size_t n) {
  if (rows.size() != n * dim()) {
    throw std::invalid_argument("CovarianceAccumulator::AddRows: got " + std::to_string(rows.size()) +
                                " floats for " + std::to_string(n) + " rows of " + std::to_string(dim()));
  }
  if (n == 0) return;
  const auto n_rows = static_cast<Eigen::Index>(n);
  const Eigen::Map<const RowMajorFloats> x(rows.data(), n_rows, static_cast<Eigen::Index>(dim()));
  // Centring on the batch's own mean before squaring keeps the large common offset of CNN features out of
  // the products, so nothing cancels catastrophically.
  // One column per row: the layout BLAS's rank-k update reads.
  Eigen::MatrixXd centred = x.cast<double>().transpose();
  const Eigen::VectorXd batch_mean = centred.rowwise().mean();
  centred.colwise() -= batch_mean;
  // OpenBLAS's syrk (runtime-dispatched SIMD) is ~7x faster than Eigen's portable build of the same product,
  // the hot loop of a run's writer thread; it only reads and writes the lower triangle.
  const auto d = static_cast<blasint>(dim());
  cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, d, static_cast<blasint>(n), 1.0, centred.data(), d,
              1.0, scatter_lower_.data(), d);
  MergeMoments(static_cast<std::int64_t>(n), batch_mean);
}

void CovarianceAccumulator::Merge(const CovarianceAccumulator& other) {
  if (other.dim() != dim()) {
    throw std::invalid_argument("CovarianceAccumulator::Merge: dimension " + std::to_string(other.dim()) +
                                " does not match " + std::to_string(dim()));
  }
  if (other.count_ == 0) return;
  scatter_lower_.triangularView<Eigen::Lower>() += other.scatter_lower_;
  MergeMoments(other.count_, other.mean_);
}

void CovarianceAccumulator::Subtract(const CovarianceAccumulator& part) {
  if (part.dim() != dim() || part.count_ > count_) {
    throw std::invalid_argument("CovarianceAccumulator::Subtract: " + std::to_string(part.count_) +
                                " rows of " + std::to_string(part.dim()) + " from " + std::to_string(count_) +
                                " rows of " + std::to_string(dim()));
  }
  if (part.count_ == 0) return;
  if (part.count_ == count_) {
    *this = CovarianceAccumulator(dim());
    return;
  }
  const auto n = static_cast<double>(count_);
  const auto n_b = static_cast<double>(part.count_);
  const double n_a = n - n_b;
  const Eigen::VectorXd mean_a = (mean_ * n - part.mean_ * n_b) / n_a;
  const Eigen::VectorXd delta = part.mean_ - mean_a;
  // Merge() added M2_b + n_a n_b / n * delta delta^T; take both out again.
  scatter_lower_.triangularView<Eigen::Lower>() -= part.scatter_lower_;
  scatter_lower_.selfadjointView<Eigen::Lower>().rankUpdate(delta, -n_a * n_b / n);
  mean_ = mean_a;
  count_ -= part.count_;
}

CovarianceAccumulator CovarianceAccumulator::FromMoments(std::int64_t count, const Eigen::VectorXd& mean,
                                                         const Eigen::MatrixXd& scatter) {
  CovarianceAccumulator result(static_cast<std::size_t>(mean.size()));
  if (count < 0 || scatter.rows() != mean.size() || scatter.cols() != mean.size()) {
    throw std::invalid_argument("CovarianceAccumulator::FromMoments: count " + std::to_string(count) +
                                ", mean of " + std::to_string(mean.size()) + ", scatter " +
                                std::to_string(scatter.rows()) + "x" + std::to_string(scatter.cols()));
  }
  if (count == 0) return result;
  result.count_ = count;
  result.mean_ = mean;
  result.scatter_lower_ = scatter.triangularView<Eigen::Lower>();
  return result;
}

void CovarianceAccumulator::MergeMoments(std::int64_t n, const Eigen::VectorXd& mean) {
  if (count_ == 0) {
    count_ = n;
    mean_ = mean;
    return;
  }
  const auto n_a = static_cast<double>(count_);
  const auto n_b = static_cast<double>(n);
  const double total = n_a + n_b;
  const Eigen::VectorXd delta = mean - mean_;
  // Chan et al.: M2 = M2_a + M2_b + n_a n_b / n * delta delta^T (both M2 terms are already in place).
  scatter_lower_.selfadjointView<Eigen::Lower>().rankUpdate(delta, n_a * n_b / total);
  mean_ += delta * (n_b / total);
  count_ += n;
}

Eigen::MatrixXd CovarianceAccumulator::scatter() const { return MirrorLower(scatter_lower_); }

Eigen::MatrixXd CovarianceAccumulator::covariance() const {
  if (count_ < 2) {
    throw UsageError("covariance needs at least 2 rows, got " + std::to_string(count_));
  }
  Eigen::MatrixXd cov = MirrorLower(scatter_lower_);
  cov /= static_cast<double>(count_ - 1);
  return cov;
}

}  // namespace orchard
