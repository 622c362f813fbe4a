#include "orchard/recognition/open_set.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/recognition/cross_validation.h"
#include "orchard/recognition/evaluation.h"

namespace orchard {
namespace {

// Three classes around centres 10 apart on their own axis, unit noise, in 6 dimensions.
struct Data {
  std::vector<float> rows;
  std::vector<int> classes;
  std::vector<std::string> paths;
};

constexpr std::size_t kDim = 6;

std::vector<float> Point(std::mt19937& rng, int centre_axis) {
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> row(kDim);
  for (std::size_t j = 0; j < kDim; ++j)
    row[j] = noise(rng) + (static_cast<int>(j) == centre_axis ? 10.0f : 0.0f);
  return row;
}

Data MakeData(std::size_t per_class) {
  std::mt19937 rng(7);
  Data data;
  for (int c = 0; c < 3; ++c) {
    for (std::size_t i = 0; i < per_class; ++i) {
      const auto row = Point(rng, c);
      data.rows.insert(data.rows.end(), row.begin(), row.end());
      data.classes.push_back(c);
      data.paths.push_back("/d/Training/L" + std::to_string(c) + "/" + std::to_string(i) + "_100.jpg");
    }
  }
  return data;
}

TEST(BlockedFoldsTest, CutsEachClassIntoContiguousStretchesOfFrameNumbers) {
  // Frame 10 follows frame 9 (numbers, not text), whatever order the rows come in.
  const std::vector<std::string> paths = {"/r/T/A/10_100.jpg", "/r/T/A/2_100.jpg",   "/r/T/A/9_100.jpg",
                                          "/r/T/A/1_100.jpg",  "/r/T/B/r_5_100.jpg", "/r/T/B/r_3_100.jpg"};
  const std::vector<int> classes = {0, 0, 0, 0, 1, 1};
  EXPECT_EQ(BlockedFolds(paths, classes, 2, 2), (std::vector<int>{1, 0, 1, 0, 1, 0}));
  EXPECT_THROW(BlockedFolds(paths, classes, 2, 3), UsageError);  // class B has 2 rows for 3 folds
}

TEST(OpenSetDetectorTest, RejectsAPointFarFromEveryClassAndKeepsKnownOnes) {
  const Data data = MakeData(200);
  const auto folds = BlockedFolds(data.paths, data.classes, 3, 5);
  const auto detector = OpenSetDetector::Fit(data.rows, kDim, data.classes, 3, folds,
                                             {.quantile = 0.99, .variance_fraction = 1.0});
  // In 6-d with unit noise the squared distance is ~chi-square(6): its 99th percentile is 16.8.
  EXPECT_GT(detector.threshold(), 12.0);
  EXPECT_LT(detector.threshold(), 25.0);
  std::mt19937 rng(99);
  std::vector<float> known = Point(rng, 1), unknown = Point(rng, 4);  // a fourth centre, on axis 4
  float scores[2];
  detector.Score(known, 1, std::span(scores, 1));
  detector.Score(unknown, 1, std::span(scores + 1, 1));
  EXPECT_FALSE(detector.IsUnknown(scores[0])) << scores[0];
  EXPECT_TRUE(detector.IsUnknown(scores[1])) << scores[1];
  EXPECT_GT(scores[1], 50.0f);  // ~ 2 * 10^2 / 1: two axes 10 off, unit variance
  // Saved and loaded, it scores the same.
  const auto loaded = OpenSetDetector::FromParts(detector.whitening(), detector.Describe());
  float again = 0.0f;
  loaded.Score(unknown, 1, std::span(&again, 1));
  EXPECT_FLOAT_EQ(again, scores[1]);
  EXPECT_EQ(loaded.threshold(), detector.threshold());
}

TEST(EvaluateOpenSetTest, AurocAndRejectRatesCountTiesAsHalf) {
  const std::vector<std::string> labels = {"A", "B"};
  const std::vector<std::string> truth = {"A", "B", "A", "X", "X", "Y"};
  const std::vector<float> scores = {1.0f, 2.0f, 5.0f, 5.0f, 9.0f, 3.0f};
  const auto figures = EvaluateOpenSet(truth, scores, labels, 4.0);
  // Unknown-known pairs (9 in all): 9 beats all three, 5 beats two and ties one, 3 beats two.
  EXPECT_DOUBLE_EQ(figures["auroc"].get<double>(), 7.5 / 9.0);
  EXPECT_EQ(figures["known"]["n"], 3);
  EXPECT_EQ(figures["known"]["rejected"], 1);
  EXPECT_EQ(figures["unknown"]["rejected"], 2);
  EXPECT_DOUBLE_EQ(figures["unknown"]["reject_rate"].get<double>(), 2.0 / 3.0);
  EXPECT_TRUE(EvaluateOpenSet({truth.data(), 3}, {scores.data(), 3}, labels, 4.0)["auroc"].is_null());
}

}  // namespace
}  // namespace orchard
