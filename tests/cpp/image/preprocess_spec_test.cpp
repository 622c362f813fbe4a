#include "orchard/image/preprocess_spec.h"

#include <gtest/gtest.h>

#include "orchard/common/error.h"

namespace orchard {
namespace {

TEST(PreprocessSpec, ImagenetPreset) {
  const auto spec = PreprocessSpec::FromPreset("imagenet");
  EXPECT_EQ(spec.preset, "imagenet");
  EXPECT_EQ(spec.width, 224);
  EXPECT_EQ(spec.height, 224);
  EXPECT_EQ(spec.resize, ResizeMethod::kBilinear);
  EXPECT_EQ(spec.channel_order, ChannelOrder::kRgb);
  EXPECT_FLOAT_EQ(spec.scale, 1.0f / 255.0f);
  EXPECT_EQ(spec.mean, (std::array{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(spec.std, (std::array{0.229f, 0.224f, 0.225f}));
}

TEST(PreprocessSpec, CaffePresetIsBgrWithBgrMeans) {
  const auto spec = PreprocessSpec::FromPreset("caffe");
  EXPECT_EQ(spec.channel_order, ChannelOrder::kBgr);
  EXPECT_FLOAT_EQ(spec.scale, 1.0f);
  EXPECT_EQ(spec.mean, (std::array{103.939f, 116.779f, 123.68f}));
  EXPECT_EQ(spec.std, (std::array{1.0f, 1.0f, 1.0f}));
}

TEST(PreprocessSpec, TfPresetMapsToMinusOneOne) {
  const auto spec = PreprocessSpec::FromPreset("tf");
  EXPECT_EQ(spec.channel_order, ChannelOrder::kRgb);
  EXPECT_FLOAT_EQ(0.0f * spec.scale - spec.mean[0], -1.0f);
  EXPECT_FLOAT_EQ(255.0f * spec.scale - spec.mean[0], 1.0f);
  EXPECT_EQ(spec.std, (std::array{1.0f, 1.0f, 1.0f}));
}

TEST(PreprocessSpec, UnknownPresetIsAUsageErrorListingTheValidNames) {
  try {
    PreprocessSpec::FromPreset("resnet");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("resnet"), std::string::npos);
    for (const char* name : {"imagenet", "caffe", "tf"}) EXPECT_NE(message.find(name), std::string::npos);
  }
}

TEST(PreprocessSpec, JsonRoundTrip) {
  for (const char* name : {"imagenet", "caffe", "tf"}) {
    auto spec = PreprocessSpec::FromPreset(name);
    spec.width = 160;
    spec.height = 128;
    spec.resize = ResizeMethod::kNearest;
    const nlohmann::json json = spec.ToJson();
    const auto back = PreprocessSpec::FromJson(nlohmann::json::parse(json.dump()));
    EXPECT_EQ(back.preset, name);
    EXPECT_EQ(back.width, 160);
    EXPECT_EQ(back.height, 128);
    EXPECT_EQ(back.resize, ResizeMethod::kNearest);
    EXPECT_EQ(back.channel_order, spec.channel_order);
    EXPECT_EQ(back.scale, spec.scale);
    EXPECT_EQ(back.mean, spec.mean);
    EXPECT_EQ(back.std, spec.std);
    EXPECT_EQ(back.ToJson(), json);
  }
}

TEST(PreprocessSpec, JsonUsesReadableNames) {
  const nlohmann::json json = PreprocessSpec::FromPreset("caffe").ToJson();
  EXPECT_EQ(json.at("channel_order"), "bgr");
  EXPECT_EQ(json.at("resize"), "bilinear");
  EXPECT_EQ(json.at("preset"), "caffe");
}

TEST(PreprocessSpec, InvalidJsonIsAUsageError) {
  nlohmann::json json = PreprocessSpec::FromPreset("imagenet").ToJson();
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json copy = json;
    copy[key] = std::move(value);
    return copy;
  };
  EXPECT_THROW(PreprocessSpec::FromJson(with("channel_order", "rbg")), UsageError);
  EXPECT_THROW(PreprocessSpec::FromJson(with("resize", "bicubic")), UsageError);
  EXPECT_THROW(PreprocessSpec::FromJson(with("width", 0)), UsageError);
  EXPECT_THROW(PreprocessSpec::FromJson(with("std", {1.0, 0.0, 1.0})), UsageError);
  EXPECT_THROW(PreprocessSpec::FromJson(with("mean", {1.0, 2.0})), UsageError);
  EXPECT_THROW(PreprocessSpec::FromJson(with("scale", "big")), UsageError);
  json.erase("height");
  EXPECT_THROW(PreprocessSpec::FromJson(json), UsageError);
}

}  // namespace
}  // namespace orchard
