#include "orchard/table/feature_table.h"

#include <arrow/array.h>
#include <gtest/gtest.h>
#include <parquet/file_reader.h>

#include <filesystem>
#include <map>
#include <string>

#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

TEST(FeatureTableTest, BatchRoundTripsThroughParquetWithPcaColumn) {
  const auto dir = std::filesystem::temp_directory_path() / ("orchard-table-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Location file = ResolveLocation((dir / "part.parquet").string());

  const std::vector<float> features = {1, 2, 3, 4, 5, 6};
  const std::vector<float> pca = {0.5f, -0.5f};
  auto staged = MakeFeatureBatch({"/a/x.jpg", "/b/y.jpg"}, {"a", "b"}, {features, 3});
  auto batch = AddPcaColumn(staged, {pca, 1});
  ASSERT_TRUE(batch->schema()->Equals(*FeatureSchema(3, 1)));

  ParquetFileWriter writer(file, FeatureSchema(3, 1));
  writer.Write(*batch);
  writer.Close();
  EXPECT_EQ(writer.rows_written(), 2);

  int batches = 0;
  ReadParquetBatches(file, [&](const std::shared_ptr<arrow::RecordBatch>& read) {
    ++batches;
    ASSERT_EQ(read->num_rows(), 2);
    EXPECT_EQ(read->GetColumnByName("path")->ToString(), batch->GetColumnByName("path")->ToString());
    const FloatRows read_features = FloatColumn(*read, "features");
    EXPECT_EQ(read_features.dim, 3u);
    EXPECT_EQ(std::vector<float>(read_features.values.begin(), read_features.values.end()), features);
    const FloatRows read_pca = FloatColumn(*read, "pca");
    EXPECT_EQ(std::vector<float>(read_pca.values.begin(), read_pca.values.end()), pca);
  });
  EXPECT_EQ(batches, 1);
  std::filesystem::remove_all(dir);
}

// Feature values are all distinct: a dictionary of them was hashed for every float, then dropped for PLAIN.
TEST(FeatureTableTest, VectorColumnsAreWrittenWithoutDictionaryStringsWithIt) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("orchard-dictionary-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Location file = ResolveLocation((dir / "part.parquet").string());
  const std::vector<float> features = {1, 2, 3, 4, 5, 6};
  const std::vector<float> pca = {0.5f, -0.5f};
  auto batch = AddPcaColumn(MakeFeatureBatch({"/a/x.jpg", "/b/y.jpg"}, {"a", "a"}, {features, 3}), {pca, 1});
  ParquetFileWriter writer(file, FeatureSchema(3, 1));
  writer.Write(*batch);
  writer.Close();

  const auto reader = parquet::ParquetFileReader::OpenFile((dir / "part.parquet").string());
  const auto row_group = reader->metadata()->RowGroup(0);
  std::map<std::string, bool> dictionary;
  for (int i = 0; i < row_group->num_columns(); ++i) {
    dictionary[row_group->ColumnChunk(i)->path_in_schema()->ToDotString()] =
        row_group->ColumnChunk(i)->has_dictionary_page();
  }
  EXPECT_EQ(
      dictionary,
      (std::map<std::string, bool>{
          {"features.list.element", false}, {"label", true}, {"path", true}, {"pca.list.element", false}}));
  std::filesystem::remove_all(dir);
}

TEST(FeatureTableTest, SlicedBatchExposesItsOwnRows) {
  const std::vector<float> features = {1, 2, 3, 4, 5, 6};
  auto batch = MakeFeatureBatch({"p", "q", "r"}, {"a", "b", "c"}, {features, 2});
  const FloatRows tail = FloatColumn(*batch->Slice(1), "features");
  EXPECT_EQ(std::vector<float>(tail.values.begin(), tail.values.end()), (std::vector<float>{3, 4, 5, 6}));
}

TEST(FeatureTableTest, ErrorBatchHasOneRowPerFailure) {
  const std::vector<ErrorRow> rows = {{"/x.jpg", "decode", "truncated"}, {"/y.gif", "decode", "unsupported"}};
  auto batch = MakeErrorBatch(rows);
  ASSERT_TRUE(batch->schema()->Equals(*ErrorSchema()));
  EXPECT_EQ(batch->num_rows(), 2);
  EXPECT_EQ(batch->GetColumnByName("message")->ToString(), "[\n  \"truncated\",\n  \"unsupported\"\n]");
}

TEST(FeatureTableTest, MismatchedSizesAreRejected) {
  const std::vector<float> features = {1, 2, 3};
  EXPECT_THROW(MakeFeatureBatch({"p", "q"}, {"a", "b"}, {features, 2}), std::invalid_argument);
  EXPECT_THROW(MakeFeatureBatch({"p"}, {"a", "b"}, {features, 3}), std::invalid_argument);
}

// Spark's Parquet parts hold list<float> vectors (Spark has no fixed-size array type); train/eval/inspect
// used to refuse them ("no fixed-size list column").
std::shared_ptr<arrow::RecordBatch> ListBatch(const std::vector<float>& values,
                                              const std::vector<int32_t>& offsets) {
  auto flat = std::make_shared<arrow::FloatArray>(static_cast<int64_t>(values.size()),
                                                  arrow::Buffer::FromVector(std::vector<float>(values)));
  auto offsets_array = std::make_shared<arrow::Int32Array>(
      static_cast<int64_t>(offsets.size()), arrow::Buffer::FromVector(std::vector<int32_t>(offsets)));
  auto list = arrow::ListArray::FromArrays(*offsets_array, *flat).ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("features", list->type())}), list->length(),
                                  {list});
}

TEST(FeatureTableTest, SparkListColumnOfOneLengthIsReadAsRows) {
  const auto batch = ListBatch({1, 2, 3, 4, 5, 6}, {0, 2, 4, 6});
  const FloatRows rows = FloatColumn(*batch, "features");
  EXPECT_EQ(rows.dim, 2u);
  EXPECT_EQ(std::vector<float>(rows.values.begin(), rows.values.end()),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const FloatRows tail = FloatColumn(*batch->Slice(2), "features");
  EXPECT_EQ(std::vector<float>(tail.values.begin(), tail.values.end()), (std::vector<float>{5, 6}));
}

TEST(FeatureTableTest, SparkListColumnOfMixedLengthsIsRefused) {
  EXPECT_THROW(FloatColumn(*ListBatch({1, 2, 3, 4, 5}, {0, 2, 5}), "features"), std::invalid_argument);
}

}  // namespace
}  // namespace orchard
