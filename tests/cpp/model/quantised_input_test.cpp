// An integer (quantised) input: the preset its codes stand for, told from its dequantisation, and that
// preset's values quantised to its codes.

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "orchard/common/error.h"
#include "orchard/model/model_contract.h"

namespace orchard {
namespace {

// A TFLite input whose codes dequantise by x * scale + offset on every channel.
ModelContract Quantised(InputElementType type, float scale, float offset) {
  ModelContract contract;
  contract.file = "quant.tflite";
  contract.input_type = type;
  InputNormalisation map;
  map.scale = {scale, scale, scale};
  map.offset = {offset, offset, offset};
  contract.input_normalisation = map;
  return contract;
}

// The code a spec gives pixel `pixel` on channel c, before the graph rounds it.
float Code(const PreprocessSpec& spec, std::size_t c, float pixel) {
  return (pixel * spec.scale - spec.mean[c]) / spec.std[c];
}

TEST(QuantisedInputTest, CodesThatArePixelsAlreadyAreFedPixels) {
  // The shared uint8 MobileNetV2: (q - 128) / 128, the tf preset's [-1, 1] within one step of the pixels.
  const ModelContract uint8 = Quantised(InputElementType::kUint8, 1.0f / 128, -1.0f);
  EXPECT_EQ(uint8.ExpectedPreset(), "raw");
  EXPECT_EQ(Code(uint8.Spec(""), 0, 200.0f), 200.0f);
  // An int8 model calibrated on pixels 0..255: q + 128.
  const ModelContract int8 = Quantised(InputElementType::kInt8, 1.0f, 128.0f);
  EXPECT_EQ(int8.ExpectedPreset(), "raw");
  EXPECT_EQ(Code(int8.Spec(""), 0, 200.0f), 72.0f);
}

// Calibrated on ImageNet-normalised values (the newcomer's Keras model: scale 0.01866, zero point -14), the
// codes stand for those values: orchard fed pixel codes p - 128 (cosine 0.946 to LiteRT), now their
// quantisation.
TEST(QuantisedInputTest, CodesCalibratedOnNormalisedValuesGetThoseValuesQuantised) {
  const float scale = 0.01865845f;
  const ModelContract contract = Quantised(InputElementType::kInt8, scale, 14 * scale);
  EXPECT_EQ(contract.ExpectedPreset(), "imagenet");
  const PreprocessSpec spec = contract.Spec("");
  EXPECT_EQ(spec.preset, "imagenet");
  const PreprocessSpec imagenet = PreprocessSpec::FromPreset("imagenet");
  for (std::size_t c = 0; c < 3; ++c) {
    for (const float pixel : {0.0f, 97.0f, 255.0f}) {
      const float value = (pixel * imagenet.scale - imagenet.mean[c]) / imagenet.std[c];
      EXPECT_NEAR(Code(spec, c, pixel) * scale + 14 * scale, value, 1e-4f) << c << " " << pixel;
    }
  }
  EXPECT_NEAR(Code(spec, 0, 0.0f), -127.5f, 0.1f);  // (0 - 0.485) / 0.229 = -2.118 -> -113.5 - 14
  EXPECT_THROW(contract.Spec("raw"), UsageError);
}

TEST(QuantisedInputTest, CodesCalibratedOnCaffeValuesAreBgrMinusTheMeans) {
  const float scale = 1.0774157f;
  const ModelContract contract = Quantised(InputElementType::kInt8, scale, 13 * scale);
  EXPECT_EQ(contract.ExpectedPreset(), "caffe");
  const PreprocessSpec spec = contract.Spec("");
  EXPECT_EQ(spec.channel_order, ChannelOrder::kBgr);
  EXPECT_NEAR(Code(spec, 0, 255.0f) * scale + 13 * scale, 255.0f - 103.939f, 1e-3f);
}

TEST(QuantisedInputTest, CodesOfNoPresetsRangeAskForThePreprocessing) {
  const ModelContract contract = Quantised(InputElementType::kInt8, 0.5f, 0.0f);  // [-64, 63.5]
  EXPECT_EQ(contract.ExpectedPreset(), std::nullopt);
  try {
    contract.Spec("");
    FAIL() << "a range of no preset was given a default";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("pass --preprocess"), std::string::npos) << e.what();
  }
  const PreprocessSpec tf = contract.Spec("tf");
  EXPECT_NEAR(Code(tf, 1, 255.0f) * 0.5f, 1.0f, 1e-5f);
}

TEST(QuantisedInputTest, ABundleSpecMustGiveTheCodesTheModelTakes) {
  const float scale = 0.01865845f;
  const ModelContract contract = Quantised(InputElementType::kInt8, scale, 14 * scale);
  EXPECT_NO_THROW(contract.CheckSpec(contract.Spec("")));
  PreprocessSpec pixel_codes = PreprocessSpec::FromPreset("raw");
  pixel_codes.mean = {128, 128, 128};
  EXPECT_THROW(contract.CheckSpec(pixel_codes), ModelError);
  const ModelContract pixels = Quantised(InputElementType::kUint8, 1.0f / 128, -1.0f);
  EXPECT_NO_THROW(pixels.CheckSpec(PreprocessSpec::FromPreset("raw")));
}

}  // namespace
}  // namespace orchard
