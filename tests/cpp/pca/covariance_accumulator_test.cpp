#include "orchard/pca/covariance_accumulator.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "orchard/common/error.h"
#include "pca_test_util.h"

namespace orchard {
namespace {

using testing::RandomRows;
using testing::ToDouble;

struct TwoPass {
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
};

// The textbook reference: mean first, then the centred products, all in double.
TwoPass DirectMoments(const Eigen::MatrixXd& x) {
  TwoPass result;
  result.mean = x.colwise().mean().transpose();
  const Eigen::MatrixXd centred = x.rowwise() - result.mean.transpose();
  result.covariance = centred.transpose() * centred / static_cast<double>(x.rows() - 1);
  return result;
}

double RelativeError(const Eigen::MatrixXd& got, const Eigen::MatrixXd& want) {
  return (got - want).norm() / want.norm();
}

// Feeds `rows` in batches of the given sizes.
void AddInBatches(CovarianceAccumulator& acc, const std::vector<float>& rows, std::size_t dim,
                  const std::vector<std::size_t>& batch_sizes) {
  std::size_t start = 0;
  for (std::size_t n : batch_sizes) {
    acc.AddRows(std::span(rows).subspan(start * dim, n * dim), n);
    start += n;
  }
  ASSERT_EQ(start * dim, rows.size());
}

TEST(CovarianceAccumulator, MatchesTwoPassOnRandomData) {
  constexpr std::size_t kDim = 17, kRows = 1000;
  const auto rows = RandomRows(kRows, kDim, 1, 3.0f, 2.0f);
  CovarianceAccumulator acc(kDim);
  AddInBatches(acc, rows, kDim, {1, 7, 256, 300, 436});
  const TwoPass want = DirectMoments(ToDouble(rows, kRows, kDim));

  EXPECT_EQ(acc.count(), 1000);
  EXPECT_LT((acc.mean() - want.mean).norm() / want.mean.norm(), 1e-10);
  EXPECT_LT(RelativeError(acc.covariance(), want.covariance), 1e-10);
  EXPECT_LT(RelativeError(acc.scatter(), want.covariance * (kRows - 1)), 1e-10);
  EXPECT_EQ(acc.covariance(), acc.covariance().transpose());
}

TEST(CovarianceAccumulator, MergingUnevenPartsEqualsOneAccumulator) {
  constexpr std::size_t kDim = 9;
  const auto rows = RandomRows(600, kDim, 2, -1.0f, 0.5f);
  CovarianceAccumulator whole(kDim);
  AddInBatches(whole, rows, kDim, {600});

  // Three partitions of 5, 95 and 500 rows, the last in batches of its own.
  CovarianceAccumulator a(kDim), b(kDim), c(kDim), empty(kDim);
  const std::span<const float> all(rows);
  a.AddRows(all.subspan(0, 5 * kDim), 5);
  b.AddRows(all.subspan(5 * kDim, 95 * kDim), 95);
  c.AddRows(all.subspan(100 * kDim, 200 * kDim), 200);
  c.AddRows(all.subspan(300 * kDim, 300 * kDim), 300);
  CovarianceAccumulator merged(kDim);
  merged.Merge(empty);  // empty into empty
  merged.Merge(a);      // into an empty one
  merged.Merge(empty);  // an empty one in
  merged.Merge(b);
  merged.Merge(c);

  EXPECT_EQ(merged.count(), 600);
  EXPECT_LT((merged.mean() - whole.mean()).norm() / whole.mean().norm(), 1e-12);
  EXPECT_LT(RelativeError(merged.covariance(), whole.covariance()), 1e-12);
}

TEST(CovarianceAccumulator, FromMomentsRoundTripsAndMerges) {
  // What a Spark executor sends (count, mean, scatter) rebuilds an accumulator that merges like the original.
  constexpr std::size_t kDim = 6;
  const auto rows = RandomRows(300, kDim, 3, 5.0f, 1.5f);
  const std::span<const float> all(rows);
  CovarianceAccumulator whole(kDim), a(kDim), b(kDim);
  whole.AddRows(all, 300);
  a.AddRows(all.first(120 * kDim), 120);
  b.AddRows(all.subspan(120 * kDim), 180);
  auto merged = CovarianceAccumulator::FromMoments(a.count(), a.mean(), a.scatter());
  merged.Merge(CovarianceAccumulator::FromMoments(b.count(), b.mean(), b.scatter()));
  EXPECT_EQ(merged.count(), 300);
  EXPECT_LT((merged.mean() - whole.mean()).norm() / whole.mean().norm(), 1e-12);
  EXPECT_LT(RelativeError(merged.covariance(), whole.covariance()), 1e-12);

  const auto empty =
      CovarianceAccumulator::FromMoments(0, Eigen::VectorXd::Zero(kDim), Eigen::MatrixXd::Zero(kDim, kDim));
  EXPECT_EQ(empty.count(), 0);
  EXPECT_THROW(CovarianceAccumulator::FromMoments(-1, a.mean(), a.scatter()), std::invalid_argument);
  EXPECT_THROW(CovarianceAccumulator::FromMoments(3, a.mean(), Eigen::MatrixXd::Zero(2, 2)),
               std::invalid_argument);
}

TEST(CovarianceAccumulator, StoredTotalMergedWithNewRowsEqualsOneAccumulator) {
  // `orchard run --incremental`: the stored moments of the earlier rows (FromMoments) merged with the new
  // rows' give the covariance of the union, without the earlier rows.
  constexpr std::size_t kDim = 7;
  const auto rows = RandomRows(500, kDim, 11, 3.0f, 2.0f);
  const std::span<const float> all(rows);
  CovarianceAccumulator whole(kDim), earlier(kDim), added(kDim);
  whole.AddRows(all, 500);
  earlier.AddRows(all.first(400 * kDim), 400);
  added.AddRows(all.subspan(400 * kDim), 100);
  auto merged = CovarianceAccumulator::FromMoments(earlier.count(), earlier.mean(), earlier.scatter());
  merged.Merge(added);
  EXPECT_EQ(merged.count(), 500);
  EXPECT_LT((merged.mean() - whole.mean()).norm() / whole.mean().norm(), 1e-12);
  EXPECT_LT(RelativeError(merged.covariance(), whole.covariance()), 1e-12);
}

TEST(CovarianceAccumulator, SubtractingRowsEqualsAccumulatingTheRest) {
  // Deleted inputs: the stored total minus the deleted rows equals the remaining rows' moments.
  constexpr std::size_t kDim = 5;
  const auto rows = RandomRows(300, kDim, 4, 10.0f, 0.5f);
  const std::span<const float> all(rows);
  CovarianceAccumulator total(kDim), kept(kDim), removed(kDim);
  total.AddRows(all, 300);
  kept.AddRows(all.first(290 * kDim), 290);
  removed.AddRows(all.subspan(290 * kDim), 10);
  total.Subtract(removed);
  EXPECT_EQ(total.count(), 290);
  EXPECT_LT((total.mean() - kept.mean()).norm() / kept.mean().norm(), 1e-12);
  EXPECT_LT(RelativeError(total.covariance(), kept.covariance()), 1e-9);

  CovarianceAccumulator everything(kDim);
  everything.AddRows(all.first(2 * kDim), 2);
  everything.Subtract(everything);
  EXPECT_EQ(everything.count(), 0);
  EXPECT_THROW(kept.Subtract(CovarianceAccumulator(kDim + 1)), std::invalid_argument);
  EXPECT_THROW(removed.Subtract(kept), std::invalid_argument);  // more rows than it holds
}

TEST(CovarianceAccumulator, LargeOffsetSmallVarianceStaysAccurate) {
  // Float features near 1e4 with spread 1e-2: the naive E[x^2] - E[x]^2 loses everything (1e8 vs 1e-4).
  constexpr std::size_t kDim = 5, kRows = 4000;
  const auto rows = RandomRows(kRows, kDim, 3, 1e4f, 1e-2f);
  CovarianceAccumulator acc(kDim);
  std::vector<std::size_t> batches(kRows / 32, 32);
  AddInBatches(acc, rows, kDim, batches);
  const TwoPass want = DirectMoments(ToDouble(rows, kRows, kDim));

  EXPECT_LT(RelativeError(acc.covariance(), want.covariance), 1e-9);
  EXPECT_LT((acc.mean() - want.mean).cwiseAbs().maxCoeff(), 1e-9);
  // And it is the right order of magnitude, not zero or noise.
  EXPECT_NEAR(acc.covariance()(0, 0), 1e-4, 1e-5);
}

TEST(CovarianceAccumulator, SingleRowHasZeroScatterAndNoCovariance) {
  CovarianceAccumulator acc(3);
  const std::vector<float> row{1.0f, 2.0f, 3.0f};
  acc.AddRows(row, 1);
  EXPECT_EQ(acc.count(), 1);
  EXPECT_EQ(acc.mean(), Eigen::Vector3d(1.0, 2.0, 3.0));
  EXPECT_EQ(acc.scatter(), Eigen::Matrix3d::Zero());
  EXPECT_THROW(acc.covariance(), UsageError);
}

TEST(CovarianceAccumulator, ZeroRowsAreANoOp) {
  CovarianceAccumulator acc(4);
  acc.AddRows({}, 0);
  EXPECT_EQ(acc.count(), 0);
  EXPECT_EQ(acc.mean(), Eigen::Vector4d::Zero());
}

TEST(CovarianceAccumulator, RejectsMismatchedShapes) {
  CovarianceAccumulator acc(4);
  const std::vector<float> rows(10, 1.0f);
  EXPECT_THROW(acc.AddRows(rows, 2), std::invalid_argument);
  CovarianceAccumulator other(5);
  EXPECT_THROW(acc.Merge(other), std::invalid_argument);
  EXPECT_THROW(CovarianceAccumulator(0), std::invalid_argument);
}

}  // namespace
}  // namespace orchard
