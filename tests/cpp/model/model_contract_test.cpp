// The model's contract: preprocessing fitted to the input type, pooling over the cut tensor's own axes.

#include "orchard/model/model_contract.h"

#include <gtest/gtest.h>

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
      EXPECT_NE(std::string(e.what()).find("takes uint8 pixels"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("quant.tflite"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelContractTest, Int8InputGetsPixelsShiftedBy128) {
  const PreprocessSpec spec = IntegerInput(InputElementType::kInt8).Spec("");
  EXPECT_EQ(spec.mean, (std::array<float, 3>{128, 128, 128}));
  EXPECT_EQ(spec.std, (std::array<float, 3>{1, 1, 1}));
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
