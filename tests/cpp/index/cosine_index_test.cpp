#include "orchard/index/cosine_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/index/near_duplicates.h"

namespace orchard {
namespace {

// Three 3-d rows: x, a slightly turned x, y; keys name them.
CosineIndex ThreeRows() {
  CosineIndex index(3);
  const std::vector<float> rows = {2, 0, 0, 1, 0.1f, 0, 0, 5, 0};
  const std::vector<std::string> paths = {"x", "x2", "y"}, labels = {"a", "a", "b"};
  index.Add({rows, 3}, paths, labels);
  return index;
}

// `similar` on an indexed image answered itself at distance -2.4e-07 (newcomer): float rounding took the
// inner product of a unit vector with itself past 1.
TEST(CosineIndex, AnImageAgainstItselfIsAtDistanceZeroNeverBelow) {
  constexpr std::size_t kRows = 500, kDim = 1280;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(0.0f, 3.0f);
  std::vector<float> rows(kRows * kDim);
  for (float& value : rows) value = uniform(random);
  CosineIndex index(kDim);
  index.Add({rows, kDim}, std::vector<std::string>(kRows, "p"), std::vector<std::string>(kRows, "l"));
  const auto found = index.Search(rows, kRows, 1);
  for (std::size_t q = 0; q < kRows; ++q) {
    ASSERT_LE(found[q][0].similarity, 1.0f) << q;
    ASSERT_GE(found[q][0].distance(), 0.0f) << q;
  }
}

TEST(CosineIndex, SearchGivesExactCosineNearestFirstWhateverTheNorms) {
  const CosineIndex index = ThreeRows();
  const std::vector<float> query = {10, 0, 0};
  const auto found = index.Search(query, 1, 5);
  ASSERT_EQ(found[0].size(), 3u);  // k is capped at the rows held
  EXPECT_EQ(found[0][0].row, 0);
  EXPECT_NEAR(found[0][0].distance(), 0.0f, 1e-6f);
  EXPECT_EQ(found[0][1].row, 1);
  EXPECT_NEAR(found[0][1].similarity, 1.0f / std::sqrt(1.01f), 1e-6f);
  EXPECT_EQ(found[0][2].row, 2);
  EXPECT_NEAR(found[0][2].similarity, 0.0f, 1e-6f);
}

TEST(CosineIndex, AddRefusesKeysThatDoNotMatchTheRows) {
  CosineIndex index(3);
  const std::vector<float> rows = {1, 0, 0};
  const std::vector<std::string> two = {"a", "b"}, one = {"a"};
  EXPECT_THROW(index.Add({rows, 3}, two, one), std::invalid_argument);
  EXPECT_THROW(index.Add({rows, 1}, one, one), std::invalid_argument);
}

TEST(CosineIndex, SaveAndLoadKeepVectorsAndKeys) {
  const auto dir = std::filesystem::temp_directory_path() / ("orchard_index_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Location file = ResolveLocation((dir / "index.faiss").string());
  const Location keys = ResolveLocation((dir / "keys.parquet").string());
  ThreeRows().Save(file, keys);
  EXPECT_FALSE(std::filesystem::exists(dir / "index.faiss.tmp"));
  const CosineIndex loaded = CosineIndex::Load(file, keys);
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded.keys().paths[2], "y");
  EXPECT_EQ(loaded.keys().labels[1], "a");
  const std::vector<float> query = {0, 1, 0};
  EXPECT_EQ(loaded.Search(query, 1, 1)[0][0].row, 2);
  std::filesystem::remove_all(dir);
}

TEST(CosineIndex, LoadOfATornFileIsAnIoErrorNamingIt) {
  const auto dir = std::filesystem::temp_directory_path() / ("orchard_torn_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Location file = ResolveLocation((dir / "index.faiss").string());
  const Location keys = ResolveLocation((dir / "keys.parquet").string());
  ThreeRows().Save(file, keys);
  std::filesystem::resize_file(dir / "index.faiss", 20);
  try {
    CosineIndex::Load(file, keys);
    FAIL() << "a torn index loaded";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("index.faiss"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(NearDuplicates, OnlyTheNearestAtOrAboveTheThresholdCounts) {
  const CosineIndex reference = ThreeRows();
  const std::vector<float> queries = {1, 0.05f, 0, 1, 1, 0};  // near x; halfway between x and y (cosine 0.71)
  const auto matches = FindNearDuplicates(reference, {queries, 3});
  ASSERT_EQ(matches.size(), 2u);
  ASSERT_TRUE(matches[0].has_value());
  EXPECT_TRUE(matches[0]->row == 0 || matches[0]->row == 1);
  EXPECT_FALSE(matches[1].has_value());
  EXPECT_TRUE(IsNearDuplicate({0, static_cast<float>(kNearDuplicateCosine)}));
  EXPECT_FALSE(IsNearDuplicate({0, 0.9f}));
}

}  // namespace
}  // namespace orchard
