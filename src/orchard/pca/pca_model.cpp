#include "orchard/pca/pca_model.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "orchard/common/error.h"

namespace orchard {
namespace {

using RowMajorFloats = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Cumulative ratios are sums of rounded terms: with f = 1 on rank-deficient data they end a few ulps short
// of 1 at the rank, and without this slack the selection would run on to dim.
constexpr double kFractionSlack = 1e-12;

void ValidateSelection(const PcaSelection& selection) {
  if (selection.k > 0) return;
  const double f = selection.variance_fraction;
  if (!(f > 0.0 && f <= 1.0)) {  // also rejects NaN
    throw UsageError("PCA variance fraction must be in (0, 1], got " + std::to_string(f));
  }
}

std::size_t ChooseK(const PcaSelection& selection, const Eigen::VectorXd& ratios) {
  const auto dim = static_cast<std::size_t>(ratios.size());
  if (selection.k > 0) return std::min(selection.k, dim);
  double cumulative = 0.0;
  for (std::size_t i = 0; i < dim; ++i) {
    cumulative += ratios[static_cast<Eigen::Index>(i)];
    if (cumulative >= selection.variance_fraction - kFractionSlack) return i + 1;
  }
  // All ratios are 0 only when every row is equal: then any one direction explains all there is.
  return cumulative > 0.0 ? dim : 1;
}

struct SymmetricEigen {
  Eigen::VectorXd values;   // ascending
  Eigen::MatrixXd vectors;  // column i belongs to values[i]
};

// LAPACK's divide-and-conquer solver (dsyevd) over OpenBLAS: blocked and threaded, about 9x faster than
// Eigen's SelfAdjointEigenSolver on a 2048-d covariance (0.6 s vs 6 s), which was most of a short job's PCA.
SymmetricEigen DecomposeSymmetric(Eigen::MatrixXd matrix) {
  const auto n = static_cast<lapack_int>(matrix.rows());
  SymmetricEigen result{Eigen::VectorXd(matrix.rows()), {}};
  const lapack_int info =
      LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, matrix.data(), n, result.values.data());
  if (info != 0) {
    throw std::runtime_error("PCA eigendecomposition failed (LAPACK dsyevd info " + std::to_string(info) +
                             ")");
  }
  result.vectors = std::move(matrix);
  return result;
}

// Eigenvectors are defined up to sign; pinning the largest-magnitude entry positive makes output stable
// across BLAS/Eigen versions and across data sets that differ only by reflection.
void FixSigns(Eigen::MatrixXd& components) {
  for (Eigen::Index r = 0; r < components.rows(); ++r) {
    Eigen::Index largest = 0;
    components.row(r).cwiseAbs().maxCoeff(&largest);
    if (components(r, largest) < 0.0) components.row(r) *= -1.0;
  }
}

}  // namespace

PcaModel PcaModel::Fit(const CovarianceAccumulator& stats, const PcaSelection& selection) {
  if (stats.count() < kMinSamples) {
    throw UsageError("PCA needs at least 2 rows, got " + std::to_string(stats.count()));
  }
  ValidateSelection(selection);
  const Eigen::MatrixXd cov = stats.covariance();
  if (!cov.allFinite()) throw std::runtime_error("PCA covariance is not finite (NaN or infinite features)");

  const double total_variance = cov.trace();
  const SymmetricEigen eigen = DecomposeSymmetric(cov);

  // LAPACK sorts ascending; rounding can leave eigenvalues of a PSD matrix slightly below zero.
  const Eigen::VectorXd eigenvalues = eigen.values.reverse().cwiseMax(0.0);
  PcaModel model;
  model.total_variance = total_variance;
  const Eigen::VectorXd ratios = model.total_variance > 0.0
                                     ? Eigen::VectorXd(eigenvalues / model.total_variance)
                                     : Eigen::VectorXd::Zero(eigenvalues.size());
  const auto k = static_cast<Eigen::Index>(ChooseK(selection, ratios));

  model.mean = stats.mean();
  model.components = eigen.vectors.rowwise().reverse().leftCols(k).transpose();
  FixSigns(model.components);
  model.explained_variance = eigenvalues.head(k);
  model.explained_variance_ratio = ratios.head(k);
  model.n_samples = stats.count();
  return model;
}

namespace {
// Fewer rows than this are projected row by row (dgemv) rather than with dgemm (below).
constexpr Eigen::Index kGemmMinRows = 8;
}  // namespace

void PcaModel::Transform(std::span<const float> rows, std::size_t n, std::span<float> out) const {
  if (rows.size() != n * dim() || out.size() != n * k()) {
    throw std::invalid_argument("PcaModel::Transform: " + std::to_string(n) + " rows need " +
                                std::to_string(n * dim()) + " input and " + std::to_string(n * k()) +
                                " output floats, got " + std::to_string(rows.size()) + " and " +
                                std::to_string(out.size()));
  }
  if (n == 0) return;
  const auto n_rows = static_cast<Eigen::Index>(n);
  const Eigen::Map<const RowMajorFloats> x(rows.data(), n_rows, static_cast<Eigen::Index>(dim()));
  Eigen::Map<RowMajorFloats> y(out.data(), n_rows, static_cast<Eigen::Index>(k()));
  // Centring in double keeps features with a large common offset from cancelling. The product goes through
  // OpenBLAS's dgemm (runtime-dispatched SIMD), ~7x Eigen's portable build: it is most of a run's final pass.
  Eigen::MatrixXd centred = x.cast<double>();
  centred.rowwise() -= mean.transpose();
  Eigen::MatrixXd projected(n_rows, components.rows());
  const auto k_rows = static_cast<blasint>(components.rows());
  const auto d = static_cast<blasint>(dim());
  if (n_rows < kGemmMinRows) {
    // dgemm packs the whole k x D components (9 MB for a served open-set whitening) at every call: for the
    // one image of a served request that copy cost more than the product. dgemv reads it once, in place.
    // Row i of the column-major centred and projected matrices is strided by n_rows.
    const auto stride = static_cast<blasint>(n_rows);
    for (Eigen::Index i = 0; i < n_rows; ++i) {
      cblas_dgemv(CblasColMajor, CblasNoTrans, k_rows, d, 1.0, components.data(), k_rows, centred.data() + i,
                  stride, 0.0, projected.data() + i, stride);
    }
  } else {
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n_rows), k_rows, d, 1.0,
                centred.data(), static_cast<blasint>(n_rows), components.data(), k_rows, 0.0,
                projected.data(), static_cast<blasint>(n_rows));
  }
  y = projected.cast<float>();
}

}  // namespace orchard
