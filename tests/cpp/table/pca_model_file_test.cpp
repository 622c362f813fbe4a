#include "orchard/table/pca_model_file.h"

#include <arrow/api.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "orchard/common/error.h"

namespace orchard {
namespace {

// A fitted model on random data with a large offset, so the mean and variances have full 17-digit mantissas.
PcaModel FittedModel(std::size_t dim, std::size_t k) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(100.0f, 3.0f);
  std::vector<float> rows(200 * dim);
  for (float& v : rows) v = normal(rng);
  CovarianceAccumulator acc(dim);
  acc.AddRows(rows, 200);
  return PcaModel::Fit(acc, {.k = k});
}

class PcaModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("orchard_pca_model_file_test_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::shared_ptr<arrow::fs::FileSystem> fs_ = std::make_shared<arrow::fs::LocalFileSystem>();
  std::filesystem::path dir_;
};

TEST_F(PcaModelFileTest, RoundTripIsExact) {
  const PcaModel model = FittedModel(12, 5);
  WritePcaModel(model, fs_, Path("pca.parquet"));
  const PcaModel read = ReadPcaModel(fs_, Path("pca.parquet"));

  EXPECT_EQ(read.dim(), 12u);
  EXPECT_EQ(read.k(), 5u);
  EXPECT_EQ(read.mean, model.mean);
  EXPECT_EQ(read.components, model.components);
  EXPECT_EQ(read.explained_variance, model.explained_variance);
  EXPECT_EQ(read.explained_variance_ratio, model.explained_variance_ratio);
  EXPECT_EQ(read.total_variance, model.total_variance);
  EXPECT_EQ(read.n_samples, 200);
}

TEST_F(PcaModelFileTest, FileHasTheDocumentedColumnsAndMetadata) {
  const PcaModel model = FittedModel(6, 3);
  WritePcaModel(model, fs_, Path("pca.parquet"));

  auto input = fs_->OpenInputFile(Path("pca.parquet")).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
  const auto table = reader->ReadTable().ValueOrDie();
  const auto& schema = *table->schema();
  ASSERT_EQ(schema.num_fields(), 4);
  EXPECT_EQ(schema.field(0)->name(), "component");
  EXPECT_TRUE(schema.field(0)->type()->Equals(arrow::int32()));
  EXPECT_EQ(schema.field(1)->name(), "explained_variance");
  EXPECT_TRUE(schema.field(1)->type()->Equals(arrow::float64()));
  EXPECT_EQ(schema.field(2)->name(), "explained_variance_ratio");
  EXPECT_TRUE(schema.field(2)->type()->Equals(arrow::float64()));
  EXPECT_EQ(schema.field(3)->name(), "vector");
  EXPECT_TRUE(schema.field(3)->type()->Equals(arrow::fixed_size_list(arrow::float64(), 6)))
      << schema.field(3)->type()->ToString();
  ASSERT_EQ(table->num_rows(), 3);

  const auto ids = std::static_pointer_cast<arrow::Int32Array>(table->column(0)->chunk(0));
  const auto variances = std::static_pointer_cast<arrow::DoubleArray>(table->column(1)->chunk(0));
  const auto vectors = std::static_pointer_cast<arrow::FixedSizeListArray>(table->column(3)->chunk(0));
  const auto second = std::static_pointer_cast<arrow::DoubleArray>(vectors->value_slice(1));
  EXPECT_EQ(ids->Value(2), 2);
  EXPECT_EQ(variances->Value(1), model.explained_variance[1]);
  for (int j = 0; j < 6; ++j) EXPECT_EQ(second->Value(j), model.components(1, j));

  // The JSON lives in the Parquet footer itself, where pyarrow's ParquetFile.metadata.metadata finds it.
  const auto kv = reader->parquet_reader()->metadata()->key_value_metadata();
  ASSERT_NE(kv, nullptr);
  const auto json = nlohmann::json::parse(kv->Get("orchard.pca").ValueOrDie());
  EXPECT_EQ(json.at("dim"), 6);
  EXPECT_EQ(json.at("k"), 3);
  EXPECT_EQ(json.at("n_samples"), 200);
  EXPECT_EQ(json.at("total_variance").get<double>(), model.total_variance);
  ASSERT_EQ(json.at("mean").size(), 6u);
  EXPECT_EQ(json.at("mean")[4].get<double>(), model.mean[4]);
}

TEST_F(PcaModelFileTest, MissingFileIsAnIoErrorNamingThePath) {
  try {
    ReadPcaModel(fs_, Path("absent.parquet"));
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.parquet"), std::string::npos) << e.what();
  }
}

TEST_F(PcaModelFileTest, UnwritableLocationIsAnIoError) {
  EXPECT_THROW(WritePcaModel(FittedModel(4, 2), fs_, Path("no/such/dir/pca.parquet")), IoError);
}

TEST_F(PcaModelFileTest, ParquetWithoutPcaMetadataIsRejected) {
  arrow::Int32Builder builder;
  ASSERT_TRUE(builder.AppendValues({0, 1}).ok());
  const std::shared_ptr<arrow::Array> ids = builder.Finish().ValueOrDie();
  const auto table = arrow::Table::Make(arrow::schema({arrow::field("component", arrow::int32())}), {ids});
  auto sink = fs_->OpenOutputStream(Path("other.parquet")).ValueOrDie();
  ASSERT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink).ok());
  ASSERT_TRUE(sink->Close().ok());
  EXPECT_THROW(ReadPcaModel(fs_, Path("other.parquet")), IoError);
}

}  // namespace
}  // namespace orchard
