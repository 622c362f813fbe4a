#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/table/input_inventory.h"
#include "orchard/table/moments_file.h"

namespace orchard {
namespace {

class IncrementalFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("orchard_incremental_files_test_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Location At(const std::string& name) const { return ResolveLocation((dir_ / name).string()); }

  std::filesystem::path dir_;
};

TEST_F(IncrementalFilesTest, MomentsRoundTripExactly) {
  // The stored moments must give back the very accumulator, or an incremental PCA would drift from a fresh
  // one.
  constexpr std::size_t kDim = 9;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(50.0f, 4.0f);
  std::vector<float> rows(70 * kDim);
  for (float& v : rows) v = normal(rng);
  CovarianceAccumulator moments(kDim);
  moments.AddRows(rows, 70);
  WriteMoments(moments, At("pca_moments.parquet"));
  const auto read = ReadMoments(At("pca_moments.parquet"), kDim);
  EXPECT_EQ(read.count(), 70);
  EXPECT_EQ(read.mean(), moments.mean());
  EXPECT_EQ(read.scatter(), moments.scatter());
  EXPECT_THROW(ReadMoments(At("pca_moments.parquet"), kDim + 1), IoError);
  EXPECT_THROW(ReadMoments(At("missing.parquet"), kDim), IoError);

  WriteMoments(CovarianceAccumulator(kDim), At("empty.parquet"));  // a job without feature rows
  EXPECT_EQ(ReadMoments(At("empty.parquet"), kDim).count(), 0);
}

TEST_F(IncrementalFilesTest, InventoryRoundTrips) {
  std::vector<InputRecord> records;
  for (int i = 0; i < 2500; ++i) {  // more than one batch
    records.push_back({"/in/Apple/" + std::to_string(i) + ".jpg",
                       {1000 + i, 1'700'000'000'123LL + i, i % 2 ? "Apple" : "Pear"}});
  }
  records.push_back({"/in/list.txt:3", {}});  // a manifest line that named no input
  WriteInputInventory(records, At("inputs.parquet"));
  const auto read = ReadInputInventory(At("inputs.parquet"));
  ASSERT_EQ(read.size(), records.size());
  for (const auto& record : records) EXPECT_EQ(read.at(record.path), record.key) << record.path;
  EXPECT_THROW(ReadInputInventory(At("missing.parquet")), IoError);
}

}  // namespace
}  // namespace orchard
