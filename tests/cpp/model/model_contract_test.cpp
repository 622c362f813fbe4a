// The model's contract: preprocessing fitted to the input type, pooling over the cut tensor's own axes.

#include "orchard/model/model_contract.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "model_test_support.h"
#include "orchard/common/error.h"
#include "orchard/model/model_description.h"

namespace orchard {
namespace {

using namespace orchard::testing;

ModelContract IntegerInput(InputElementType type) {
  ModelContract contract;
  contract.file = "quant.tflite";
  contract.input_type = type;
  contract.width = 192;
  contract.height = 160;
  return contract;
}

TEST(ModelContractTest, FloatInputDefaultsToImagenetSizedToTheModel) {
  ModelContract contract = IntegerInput(InputElementType::kFloat);
  const PreprocessSpec spec = contract.Spec("");
  EXPECT_EQ(spec.preset, "imagenet");
  EXPECT_EQ(spec.width, 192);
  EXPECT_EQ(spec.height, 160);
  EXPECT_EQ(contract.Spec("caffe").channel_order, ChannelOrder::kBgr);
}

TEST(ModelContractTest, Uint8InputGetsRawPixelsAndRefusesNormalisingPresets) {
  const ModelContract contract = IntegerInput(InputElementType::kUint8);
  const PreprocessSpec spec = contract.Spec("");
  EXPECT_EQ(spec.preset, "raw");
  EXPECT_EQ(spec.scale, 1.0f);
  EXPECT_EQ(spec.mean, (std::array<float, 3>{0, 0, 0}));
  for (const char* preset : {"imagenet", "caffe", "tf"}) {
    try {
      contract.Spec(preset);
      FAIL() << preset << " was accepted for a uint8 input";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("takes uint8 codes"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("quant.tflite"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelContractTest, Int8InputGetsPixelsShiftedBy128) {
  const PreprocessSpec spec = IntegerInput(InputElementType::kInt8).Spec("");
  EXPECT_EQ(spec.mean, (std::array<float, 3>{128, 128, 128}));
  EXPECT_EQ(spec.std, (std::array<float, 3>{1, 1, 1}));
}

InputNormalisation Map(std::array<float, 3> scale, std::array<float, 3> offset) {
  InputNormalisation map;
  map.scale = scale;
  map.offset = offset;
  return map;
}

using Expected = std::optional<std::string>;

TEST(InputNormalisationTest, ThePixelsAMapExpectsAreToldFromItsScaleAndOffset) {
  const float s = 1.0f / 255;
  const std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
  EXPECT_EQ(Map({s, s, s}, {0, 0, 0}).ExpectedPreset(), Expected("raw"));  // Keras Rescaling(1/255)
  EXPECT_EQ(Map({2 * s, 2 * s, 2 * s}, {-1, -1, -1}).ExpectedPreset(),
            Expected("raw"));                          // MobileNetV3: -1..1
  EXPECT_EQ(Map({s / std[0], s / std[1], s / std[2]},  // EfficientNet: (x/255 - mean) / std
                {-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]})
                .ExpectedPreset(),
            Expected("raw"));
  EXPECT_EQ(Map({1, 1, 1}, {-123.68f, -116.779f, -103.939f}).ExpectedPreset(),
            Expected("raw"));  // a caffe mean
  // torchvision's Normalize baked in, on pixels in 0..1.
  EXPECT_EQ(
      Map({1 / std[0], 1 / std[1], 1 / std[2]}, {-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]})
          .ExpectedPreset(),
      Expected("unit"));
  EXPECT_EQ(Map({1, 1, 1}, {-mean[0], -mean[1], -mean[2]}).ExpectedPreset(),
            Expected("unit"));                                          // a 0..1 mean
  EXPECT_EQ(Map({s, s, s}, {5, 5, 5}).ExpectedPreset(), std::nullopt);  // 0..255 lands on 5..6
  EXPECT_EQ(Map({100, 100, 100}, {0, 0, 0}).ExpectedPreset(), std::nullopt);
  EXPECT_EQ(Map({0, 0, 0}, {0, 0, 0}).ExpectedPreset(), std::nullopt);
}

TEST(ModelContractTest, AGraphThatNormalisesRawPixelsDefaultsToRawAndRefusesAPreset) {
  ModelContract contract = IntegerInput(InputElementType::kFloat);
  contract.input_normalisation = Map({1.0f / 127.5f, 1.0f / 127.5f, 1.0f / 127.5f}, {-1, -1, -1});
  EXPECT_EQ(contract.Spec("").preset, "raw");
  EXPECT_EQ(contract.Spec("raw").scale, 1.0f);
  EXPECT_THROW(contract.Spec("tf"), UsageError);
  ASSERT_EQ(contract.Notes().size(), 1u);
  EXPECT_NE(contract.Notes()[0].find("x * 0.00784314 + -1 per channel"), std::string::npos)
      << contract.Notes()[0];
}

TEST(ModelContractTest, AGraphThatNormalisesUnitPixelsDefaultsToUnit) {
  ModelContract contract = IntegerInput(InputElementType::kFloat);
  contract.input_normalisation = Map({1 / 0.229f, 1 / 0.224f, 1 / 0.225f}, {-2.1f, -2.0f, -1.8f});
  const PreprocessSpec spec = contract.Spec("");
  EXPECT_EQ(spec.preset, "unit");
  EXPECT_FLOAT_EQ(spec.scale, 1.0f / 255);
  EXPECT_EQ(spec.mean, (std::array<float, 3>{0, 0, 0}));
  EXPECT_EQ(spec.std, (std::array<float, 3>{1, 1, 1}));
  EXPECT_THROW(contract.Spec("imagenet"), UsageError);
}

TEST(ModelContractTest, CheckSpecRefusesABundleSpecThatDoesNotFit) {
  const ModelContract contract = IntegerInput(InputElementType::kUint8);
  EXPECT_NO_THROW(contract.CheckSpec(contract.Spec("")));
  PreprocessSpec normalised = PreprocessSpec::FromPreset("imagenet");
  normalised.width = 192;
  normalised.height = 160;
  EXPECT_THROW(contract.CheckSpec(normalised), ModelError);
  PreprocessSpec other_size = contract.Spec("");
  other_size.width = 224;
  EXPECT_THROW(contract.CheckSpec(other_size), ModelError);
}

TEST(ModelContractTest, HardCodedBatchIsKeptAndSaidOnce) {
  ModelContract contract = IntegerInput(InputElementType::kFloat);
  EXPECT_EQ(contract.BatchFor(8), 8u);
  EXPECT_TRUE(contract.Notes().empty());
  contract.batch_follows_input = false;
  contract.file_batch = 1;
  EXPECT_EQ(contract.BatchFor(8), 1u);
  ASSERT_EQ(contract.Notes().size(), 1u);
  EXPECT_NE(contract.Notes()[0].find("runs 1 image(s) per call"), std::string::npos);
  EXPECT_EQ(contract.NotesText(), "orchard: " + contract.Notes()[0] + "\n");
}

// The shared uint8 TFLite: NHWC input, channels-last feature map averaged over axes 1 and 2, raw pixels.
TEST(ModelDescriptionTest, SharedUint8TfliteIsDescribedAsRawNhwcChannelsLast) {
  const ModelDescription description = DescribeModel(MobileNetTflite(), "");
  ASSERT_TRUE(description.usable()) << description.json.dump(2);
  const auto& contract = description.json.at("contract");
  EXPECT_EQ(contract.at("input").at("layout"), "NHWC");
  EXPECT_EQ(contract.at("input").at("pixels"), "uint8");
  EXPECT_EQ(contract.at("default_preprocess"), "raw");
  EXPECT_EQ(contract.at("feature_tensor").at("pooled_axes"), nlohmann::json::array({1, 2}));
  EXPECT_EQ(contract.at("feature_dim"), 1280);
  ASSERT_EQ(description.json.at("candidates").size(), 1u);
  EXPECT_EQ(description.json.at("candidates")[0].at("channels"), "last");
  EXPECT_NE(description.Text().find("1280-d features"), std::string::npos) << description.Text();
}

TEST(ModelDescriptionTest, DefaultOnnxModelIsChannelsFirst) {
  const ModelDescription description = DescribeModel(MobileNetOnnx(), "");
  ASSERT_TRUE(description.usable()) << description.json.dump(2);
  const auto& contract = description.json.at("contract");
  EXPECT_EQ(contract.at("feature_tensor").at("name"), "627");
  EXPECT_EQ(contract.at("feature_tensor").at("pooled_axes"), nlohmann::json::array({2, 3}));
  EXPECT_EQ(contract.at("default_preprocess"), "imagenet");
  EXPECT_EQ(contract.at("input").at("batch"), "dynamic");
}

TEST(ModelDescriptionTest, NotAModelIsAModelErrorNamingTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "orchard-not-a-model.onnx";
  std::ofstream(path) << "this is not a model";
  try {
    DescribeModel(path, "");
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace orchard
