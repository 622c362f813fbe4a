#include "orchard/pipeline/run_manifest.h"

#include <gtest/gtest.h>

#include "orchard/common/error.h"

namespace orchard {
namespace {

ManifestFacts SparkLikeFacts() {
  ManifestFacts facts;
  facts.input = "s3a://bucket/Test";
  facts.written = 30;
  facts.failed = 1;
  facts.model = {"model.onnx", "abc", "627", 1280, "f32"};
  facts.preprocess = {{"preset", "imagenet"}};
  facts.feature_parts = {"features/part-00000-u-c000.zstd.parquet"};
  facts.pca_file = "pca.parquet";
  facts.moments_file = "pca_moments.parquet";
  facts.inputs_file = "inputs.parquet";
  facts.attempt_images = 31;
  facts.wall_seconds = 2.0;
  facts.engine = {{"engine", "spark"}, {"master", "local[2]"}};
  return facts;
}

TEST(RunManifestTest, BuildsTheSchemaFromAnEnginesFacts) {
  const auto manifest = RunManifest(SparkLikeFacts());
  EXPECT_EQ(manifest.at("counts"), nlohmann::json({{"seen", 31}, {"written", 30}, {"failed", 1}}));
  EXPECT_EQ(manifest.at("model").at("sha256"), "abc");
  EXPECT_EQ(manifest.at("files").at("pca"), nullptr);  // no PCA facts: none listed, and pca says why
  EXPECT_EQ(manifest.at("pca"), nlohmann::json({{"skipped", ""}, {"k", 0}}));
  EXPECT_EQ(manifest.at("files").at("inputs"), "inputs.parquet");
  EXPECT_EQ(manifest.at("attempt"), nlohmann::json({{"number", 0}, {"images", 31}}));
  EXPECT_DOUBLE_EQ(manifest.at("images_per_second").get<double>(), 15.5);
  EXPECT_EQ(manifest.at("engine"), "spark");
  EXPECT_FALSE(manifest.contains("incremental"));
}

TEST(RunManifestTest, EngineKeysNeverReplaceTheSchemasKeys) {
  auto facts = SparkLikeFacts();
  facts.engine["counts"] = {{"seen", 0}};
  EXPECT_THROW(RunManifest(facts), UsageError);
  facts = SparkLikeFacts();
  facts.model_engine = {{"sha256", "other"}};
  EXPECT_THROW(RunManifest(facts), UsageError);
  facts.model_engine = {{"streams", 2}};
  EXPECT_EQ(RunManifest(facts).at("model").at("streams"), 2);
}

}  // namespace
}  // namespace orchard
