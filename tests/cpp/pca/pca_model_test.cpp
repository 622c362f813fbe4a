#include "orchard/pca/pca_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "orchard/common/error.h"
#include "pca_test_util.h"

namespace orchard {
namespace {

using testing::RandomOrthonormal;
using testing::RandomRows;
using testing::RowMajorFloats;
using testing::ToDouble;

constexpr std::size_t kDim = 8;
constexpr std::size_t kRows = 20000;
// Standard deviations along the basis directions: distinct, so every component is identifiable.
const Eigen::VectorXd kStddevs = (Eigen::VectorXd(kDim) << 8, 5, 3, 2, 1, 0.5, 0.25, 0.1).finished();

// Rows x = offset + basis * diag(stddevs) * z with z standard normal: covariance basis diag(s^2) basis^T.
std::vector<float> RowsWithKnownCovariance(const Eigen::MatrixXd& basis, unsigned seed) {
  const Eigen::MatrixXd z = ToDouble(RandomRows(kRows, kDim, seed), kRows, kDim);
  const Eigen::MatrixXd x = (z * kStddevs.asDiagonal() * basis.transpose()).array() + 10.0;
  const RowMajorFloats xf = x.cast<float>();
  return {xf.data(), xf.data() + xf.size()};
}

CovarianceAccumulator Accumulate(const std::vector<float>& rows, std::size_t dim) {
  CovarianceAccumulator acc(dim);
  acc.AddRows(rows, rows.size() / dim);
  return acc;
}

PcaModel FitAll(const std::vector<float>& rows, std::size_t dim, PcaSelection selection = {.k = 100}) {
  return PcaModel::Fit(Accumulate(rows, dim), selection);
}

TEST(PcaModel, RecoversKnownVariancesAndSubspace) {
  const Eigen::MatrixXd basis = RandomOrthonormal(kDim, 11);
  const PcaModel model = FitAll(RowsWithKnownCovariance(basis, 12), kDim, {.k = 3});

  ASSERT_EQ(model.k(), 3u);
  ASSERT_EQ(model.dim(), kDim);
  EXPECT_EQ(model.n_samples, static_cast<std::int64_t>(kRows));
  for (Eigen::Index i = 0; i < 3; ++i) {
    const double want = kStddevs[i] * kStddevs[i];
    // Sampling error of a variance estimate is about sqrt(2 / n) = 1%; allow 5%.
    EXPECT_NEAR(model.explained_variance[i], want, 0.05 * want) << "component " << i;
    // Each component is the basis vector up to sign, within sampling noise.
    EXPECT_GT(std::abs(model.components.row(i).dot(basis.col(i))), 0.999) << "component " << i;
  }
  EXPECT_NEAR(model.total_variance, kStddevs.squaredNorm(), 0.05 * kStddevs.squaredNorm());
  const Eigen::MatrixXd gram = model.components * model.components.transpose();
  EXPECT_TRUE(gram.isApprox(Eigen::MatrixXd::Identity(3, 3), 1e-12));
  EXPECT_LT((model.mean.array() - 10.0).abs().maxCoeff(), 0.2);
  EXPECT_NEAR(model.explained_variance_ratio[0], model.explained_variance[0] / model.total_variance, 1e-15);
}

TEST(PcaModel, FullFitIsDescendingAndSumsToTotal) {
  const PcaModel model = FitAll(RowsWithKnownCovariance(RandomOrthonormal(kDim, 21), 22), kDim);
  ASSERT_EQ(model.k(), kDim);  // k larger than dim is clamped
  for (Eigen::Index i = 1; i < model.explained_variance.size(); ++i) {
    EXPECT_GE(model.explained_variance[i - 1], model.explained_variance[i]);
  }
  EXPECT_NEAR(model.explained_variance.sum(), model.total_variance, 1e-10 * model.total_variance);
  EXPECT_NEAR(model.explained_variance_ratio.sum(), 1.0, 1e-12);
}

TEST(PcaModel, VarianceFractionPicksSmallestSufficientK) {
  const PcaModel full = FitAll(RowsWithKnownCovariance(RandomOrthonormal(kDim, 31), 32), kDim);
  const Eigen::VectorXd& ratio = full.explained_variance_ratio;
  const auto fit = [&](double fraction) {
    return PcaModel::Fit(Accumulate(RowsWithKnownCovariance(RandomOrthonormal(kDim, 31), 32), kDim),
                         {.k = 0, .variance_fraction = fraction});
  };
  // Exactly at a cumulative ratio, and just above it.
  EXPECT_EQ(fit(ratio[0]).k(), 1u);
  EXPECT_EQ(fit(ratio.head(2).sum()).k(), 2u);
  EXPECT_EQ(fit(ratio.head(2).sum() + 1e-6).k(), 3u);
  EXPECT_EQ(fit(1e-9).k(), 1u);
  EXPECT_EQ(fit(1.0).k(), kDim);
  // With the known spectrum (64, 25, 9, 4, ...) / 103.3, 90% needs three components.
  EXPECT_EQ(fit(0.90).k(), 3u);
}

TEST(PcaModel, FractionOneOnRankDeficientDataStopsAtTheRank) {
  // Rows in a 2-dimensional subspace of R^4: the trailing eigenvalues are rounding noise.
  std::mt19937 rng(41);
  std::normal_distribution<float> normal;
  std::vector<float> rows;
  for (int i = 0; i < 500; ++i) {
    const float a = normal(rng), b = normal(rng);
    rows.insert(rows.end(), {a + b, a - b, 2 * a, 0.5f * b});
  }
  const PcaModel model = PcaModel::Fit(Accumulate(rows, 4), {.k = 0, .variance_fraction = 1.0});
  EXPECT_EQ(model.k(), 2u);
  const PcaModel all = FitAll(rows, 4);
  EXPECT_GE(all.explained_variance.minCoeff(), 0.0);  // clamped, never slightly negative
}

TEST(PcaModel, SignsAreDeterministicUnderReflection) {
  const Eigen::MatrixXd basis = RandomOrthonormal(kDim, 51);
  const PcaModel model = FitAll(RowsWithKnownCovariance(basis, 52), kDim);
  const PcaModel reflected = FitAll(RowsWithKnownCovariance(-basis, 52), kDim);
  // Negating the basis negates the centred data, so the covariance and thus the fit are identical.
  EXPECT_TRUE(model.components.isApprox(reflected.components, 1e-6));
  for (Eigen::Index r = 0; r < model.components.rows(); ++r) {
    Eigen::Index largest = 0;
    model.components.row(r).cwiseAbs().maxCoeff(&largest);
    EXPECT_GT(model.components(r, largest), 0.0) << "component " << r;
  }
}

TEST(PcaModel, TransformCentresAndProjects) {
  const auto rows = RowsWithKnownCovariance(RandomOrthonormal(kDim, 61), 62);
  const PcaModel model = FitAll(rows, kDim, {.k = 4});
  constexpr std::size_t kBatch = 37;
  const std::span<const float> batch = std::span(rows).first(kBatch * kDim);

  std::vector<float> out(kBatch * model.k());
  model.Transform(batch, kBatch, out);
  const Eigen::MatrixXd x = ToDouble({batch.begin(), batch.end()}, kBatch, kDim);
  const Eigen::MatrixXd want = (x.rowwise() - model.mean.transpose()) * model.components.transpose();
  const Eigen::MatrixXd got = ToDouble(out, kBatch, model.k());
  EXPECT_LT((got - want).cwiseAbs().maxCoeff(), 1e-5 * want.cwiseAbs().maxCoeff());

  const RowMajorFloats mean = model.mean.transpose().cast<float>();
  std::vector<float> projected_mean(model.k());
  model.Transform({mean.data(), kDim}, 1, projected_mean);
  for (float v : projected_mean) EXPECT_NEAR(v, 0.0f, 1e-5f);
}

// A served request projects one image: fewer rows than dgemm pays for go row by row (dgemv), with the same
// projections as the rows get inside a large batch.
TEST(PcaModel, FewRowsProjectAsInALargeBatch) {
  const auto rows = RowsWithKnownCovariance(RandomOrthonormal(kDim, 63), 64);
  const PcaModel model = FitAll(rows, kDim, {.k = 5});
  constexpr std::size_t kBatch = 64;
  std::vector<float> batched(kBatch * model.k());
  model.Transform(std::span(rows).first(kBatch * kDim), kBatch, batched);
  for (std::size_t n = 1; n <= 9; ++n) {
    std::vector<float> few(n * model.k());
    model.Transform(std::span(rows).first(n * kDim), n, few);
    for (std::size_t i = 0; i < few.size(); ++i)
      EXPECT_NEAR(few[i], batched[i], 1e-5f) << n << " rows, " << i;
  }
}

TEST(PcaModel, TransformRejectsWrongSizes) {
  const PcaModel model = FitAll(RandomRows(50, 4, 71), 4, {.k = 2});
  std::vector<float> rows(3 * 4), out(3 * 2);
  EXPECT_NO_THROW(model.Transform(rows, 3, out));
  EXPECT_THROW(model.Transform(rows, 2, out), std::invalid_argument);
  EXPECT_THROW(model.Transform(rows, 3, std::span(out).first(5)), std::invalid_argument);
}

TEST(PcaModel, TooFewRowsIsAUsageError) {
  CovarianceAccumulator acc(3);
  const std::vector<float> row{1, 2, 3};
  acc.AddRows(row, 1);
  try {
    PcaModel::Fit(acc, {.k = 2});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "PCA needs at least 2 rows, got 1");
  }
  EXPECT_THROW(PcaModel::Fit(CovarianceAccumulator(3), {.k = 2}), UsageError);
}

TEST(PcaModel, BadVarianceFractionIsAUsageError) {
  const auto acc = Accumulate(RandomRows(20, 3, 81), 3);
  for (double f : {0.0, -0.5, 1.0000001, std::nan("")}) {
    EXPECT_THROW(PcaModel::Fit(acc, {.k = 0, .variance_fraction = f}), UsageError) << f;
  }
  EXPECT_NO_THROW(PcaModel::Fit(acc, {.k = 2, .variance_fraction = 7.0}));  // ignored when k is fixed
}

TEST(PcaModel, ConstantDataKeepsOneComponentWithZeroVariance) {
  const std::vector<float> rows(10 * 3, 4.0f);
  const PcaModel model = PcaModel::Fit(Accumulate(rows, 3), {.k = 0, .variance_fraction = 0.5});
  EXPECT_EQ(model.k(), 1u);
  EXPECT_EQ(model.total_variance, 0.0);
  EXPECT_EQ(model.explained_variance_ratio[0], 0.0);
}

}  // namespace
}  // namespace orchard
