// Models other than the default: a plain float ONNX (generated ResNet50) and a uint8 TFLite.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model_test_support.h"
#include "orchard/common/error.h"

namespace orchard {
namespace {

using namespace orchard::testing;

constexpr const char* kTflitePooledInput =
    "MobilenetV2/Conv_1/Relu6;MobilenetV2/Conv_1/add_fold;MobilenetV2/Conv_1/Conv2D_Fold;"
    "MobilenetV2/Conv_1/BatchNorm_Fold/bias";

// A uint8 model wants the raw 0..255 pixel values: no scaling, no mean/std.
PreprocessSpec RawPixels() {
  PreprocessSpec spec = PreprocessSpec::FromPreset("imagenet");
  spec.preset = "custom";
  spec.scale = 1.0f;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  return spec;
}

TEST(ResNet50Test, CutsBeforeGlobalAveragePoolAndGives2048Features) {
  EmbeddingModel model(Options(ResNet50Onnx()));
  EXPECT_EQ(model.feature_tensor(), "layer4.2.out");  // the GlobalAveragePool's input
  EXPECT_EQ(model.feature_dim(), 2048u);
  EXPECT_EQ(model.input_layout(), TensorLayout::kNchw);

  const auto spec = PreprocessSpec::FromPreset("imagenet");
  auto batch = LoadInput(SampleImage("Lemon"), model, spec);
  const auto second = LoadInput(SampleImage("Plum"), model, spec);
  batch.insert(batch.end(), second.begin(), second.end());
  const auto features = Embed(model, batch, 2);
  ASSERT_TRUE(std::all_of(features.begin(), features.end(), [](float v) { return std::isfinite(v); }));
  EXPECT_GT(*std::max_element(features.begin(), features.end()), 0.0f);
  EXPECT_NE(std::vector<float>(features.begin(), features.begin() + 2048),
            std::vector<float>(features.begin() + 2048, features.end()));
}

TEST(ResNet50Test, Int8IsRefusedForAFloatModel) {
  try {
    EmbeddingModel model(Options(ResNet50Onnx(), "", Precision::kInt8));
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("has no quantisation"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("resnet50-notop.onnx"), std::string::npos) << error.what();
  }
}

class TfliteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = std::make_unique<EmbeddingModel>(Options(MobileNetTflite())); }
  static void TearDownTestSuite() { model_.reset(); }
  static inline std::unique_ptr<EmbeddingModel> model_;
};

TEST_F(TfliteTest, DefaultFeatureTensorIsTheAveragePoolInput) {
  EXPECT_EQ(model_->feature_tensor(), kTflitePooledInput);
  EXPECT_EQ(model_->feature_dim(), 1280u);
  EXPECT_EQ(model_->input_layout(), TensorLayout::kNhwc);
  EXPECT_EQ(model_->input_width(), 224);
  EXPECT_EQ(model_->input_height(), 224);
}

TEST_F(TfliteTest, FeaturesAreDequantisedReLU6Values) {
  const auto input = LoadInput(SampleImage("Cherry"), *model_, RawPixels());
  const auto features = Embed(*model_, input, 1);
  for (float v : features) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 6.0f);  // real units, not uint8 codes (which would reach 255)
  }
  const auto [lo, hi] = std::minmax_element(features.begin(), features.end());
  EXPECT_GT(*hi - *lo, 0.5f);
}

TEST_F(TfliteTest, ExplicitTensorMatchesDefaultAndBatchIsDynamic) {
  EmbeddingModel explicit_model(Options(MobileNetTflite(), kTflitePooledInput));
  auto batch = LoadInput(SampleImage("Kiwi"), *model_, RawPixels());
  const auto second = LoadInput(SampleImage("Orange"), *model_, RawPixels());
  batch.insert(batch.end(), second.begin(), second.end());
  const auto two = Embed(explicit_model, batch, 2);
  EXPECT_EQ(two, Embed(*model_, batch, 2));
  const auto first = Embed(*model_, std::span<const float>(batch).first(batch.size() / 2), 1);
  for (std::size_t k = 0; k < first.size(); ++k)
    ASSERT_NEAR(two[k], first[k], 1e-5f * std::max(1.0f, first[k]));
}

}  // namespace
}  // namespace orchard
