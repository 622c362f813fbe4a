// Graphs whose output batch is not the batch orchard asks for, through ImageEmbedder (the one path of run,
// predict, serve and the binding). Before issue 13 a graph with a hard-coded Reshape [1, 8, -1] ran at
// --batch 8 and orchard copied 8 rows out of its 1-row output; scripts/asan.sh runs these tests under ASan,
// which stops on any such read. The models are the compatibility suite's (scripts/setup_compat.sh).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model_test_support.h"
#include "orchard/image/decode.h"
#include "orchard/model/image_embedder.h"

namespace orchard {
namespace {

using namespace orchard::testing;

// The suite's models are made in .venv-compat; without it these tests skip, except in CI (as the Python
// suite).
std::filesystem::path CompatModel(const std::string& name) {
  const auto path = RepoDir() / "models-generated" / "compat" / name;
  if (!std::filesystem::exists(path) && std::getenv("CI") == nullptr) return {};
  EXPECT_TRUE(std::filesystem::exists(path)) << path << " is missing: scripts/setup_compat.sh makes it";
  return path;
}

std::vector<std::uint8_t> ReadBytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in) << file;
  return {std::istreambuf_iterator<char>(in), {}};
}

// The features of three fruits, embedded in one call of three and in three calls of one.
struct ThreeFruits {
  std::vector<float> together;
  std::vector<float> one_by_one;
};

ThreeFruits EmbedThreeFruits(EmbeddingModel& model) {
  const ImageEmbedder embedder(model, model.contract().Spec(""), DecodeOptions{}.max_pixels);
  const std::size_t size = embedder.image_size();
  const std::size_t dim = embedder.feature_dim();
  std::vector<float> batch(3 * size);
  std::size_t i = 0;
  for (const char* label : {"Apple Red 1", "Kiwi", "Strawberry"}) {
    const auto failure =
        embedder.Prepare(ReadBytes(SampleImage(label)), std::span(batch).subspan(i++ * size, size));
    EXPECT_FALSE(failure) << label << ": " << failure->message;
  }
  ThreeFruits result{std::vector<float>(3 * dim), std::vector<float>(3 * dim)};
  for (const auto& failure : embedder.Embed(batch, 3, result.together)) EXPECT_FALSE(failure);
  for (std::size_t k = 0; k < 3; ++k) {
    embedder.Embed(std::span(batch).subspan(k * size, size), 1,
                   std::span(result.one_by_one).subspan(k * dim, dim));
  }
  return result;
}

TEST(FixedBatchTest, FixedBatchOneReshapeNeverReadsPastItsOutput) {
  const auto path = CompatModel("onnx_batch1_reshape.onnx");
  if (path.empty()) GTEST_SKIP() << "no compatibility models (scripts/setup_compat.sh)";
  ModelOptions options = Options(path);
  options.batch_size = 8;
  EmbeddingModel model(options);
  EXPECT_EQ(model.batch_size(), 1u);
  EXPECT_EQ(model.feature_dim(), 8u);  // the ReduceMean, not the 10 logits
  const ThreeFruits features = EmbedThreeFruits(model);
  EXPECT_EQ(features.together, features.one_by_one);
  EXPECT_NE(std::vector<float>(features.together.begin(), features.together.begin() + 8),
            std::vector<float>(features.together.begin() + 8, features.together.begin() + 16));
}

// A float model compiles a static batch of 8; given 3 images: the short batch is padded, never read past.
TEST(FixedBatchTest, ShortLastBatchOfAStaticModelIsPaddedNotReadPast) {
  const auto path = CompatModel("onnx_pooled_output.onnx");
  if (path.empty()) GTEST_SKIP() << "no compatibility models (scripts/setup_compat.sh)";
  ModelOptions options = Options(path);
  options.batch_size = 8;
  EmbeddingModel model(options);
  EXPECT_EQ(model.batch_size(), 8u);
  const ThreeFruits features = EmbedThreeFruits(model);
  EXPECT_EQ(features.together, features.one_by_one);
}

// The service compiles batch 1 beside its batch (ModelOptions::extra_batches): a call of one image runs on
// it, a longer one on the full batch, padded, with the same features.
TEST(FixedBatchTest, ExtraBatchOneRunsALoneImageWithTheFullBatchsFeatures) {
  ModelOptions options = Options(MobileNetOnnx(), "", Precision::kInt8);
  options.batch_size = 8;
  options.extra_batches = {1, 0, 8, 20};  // 0 and sizes not under batch_size are ignored
  EmbeddingModel model(options);
  EXPECT_EQ(model.compiled_batches(), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(model.CompiledBatchFor(1), 1u);
  EXPECT_EQ(model.CompiledBatchFor(2), 8u);
  EXPECT_EQ(model.CompiledBatchFor(20), 8u);
  const ThreeFruits features = EmbedThreeFruits(model);  // together: batch 8; one by one: batch 1
  ASSERT_EQ(features.together.size(), features.one_by_one.size());
  for (std::size_t i = 0; i < features.together.size(); ++i)
    EXPECT_NEAR(features.one_by_one[i], features.together[i], 1e-3F + 1e-3F * std::abs(features.together[i]));
}

}  // namespace
}  // namespace orchard
