// Guards against the "blue images" bug: pure red and pure blue pictures go through the real path (encoded
// file -> DecodeImage -> Preprocess) and must land in the channel each preset's network expects.

#include <gtest/gtest.h>

#include <functional>

#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"
#include "test_codecs.h"

namespace orchard {
namespace {

using testing::Bytes;
using Encoder = std::function<Bytes(int, int, const Bytes&)>;

constexpr int kSide = 16;  // decoded at 16x16, preprocessed to 8x8

struct Case {
  const char* name;
  Encoder encode;
  float pixel_tolerance;  // JPEG's colour conversion may move a solid colour by a step or two
};

std::vector<Case> Cases() {
  return {{"png", testing::EncodeRgbPng, 0.0f},
          {"jpeg", [](int w, int h, const Bytes& rgb) { return testing::EncodeJpeg(w, h, rgb); }, 2.0f}};
}

// Preprocessed channel values of a solid image, read at pixel (3, 5) of an 8x8 tensor in the given layout.
std::array<float, 3> Channels(const Bytes& encoded, const PreprocessSpec& spec, TensorLayout layout) {
  const Image image = DecodeImage(encoded);
  std::vector<float> out(3 * spec.width * spec.height);
  Preprocess(image, spec, layout, out);
  const int plane = spec.width * spec.height, pixel = 5 * spec.width + 3;
  std::array<float, 3> channels;
  for (int c = 0; c < 3; ++c)
    channels[c] = layout == TensorLayout::kNchw ? out[c * plane + pixel] : out[pixel * 3 + c];
  return channels;
}

PreprocessSpec Small(const char* preset) {
  auto spec = PreprocessSpec::FromPreset(preset);
  spec.width = spec.height = 8;
  return spec;
}

void ExpectChannels(const std::array<float, 3>& actual, const std::array<float, 3>& expected, float tolerance,
                    const std::string& what) {
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(actual[c], expected[c], tolerance) << what << ", channel " << c;
}

TEST(ChannelOrder, ImagenetIsRgb) {
  const auto spec = Small("imagenet");
  for (const auto& [name, encode, pixels] : Cases()) {
    for (auto layout : {TensorLayout::kNchw, TensorLayout::kNhwc}) {
      const std::string what = std::string(name) + (layout == TensorLayout::kNchw ? " nchw" : " nhwc");
      // One pixel step, in normalised units, is 1/255/std.
      const float tolerance = pixels / 255.0f / 0.224f + 1e-5f;
      const auto red =
          Channels(encode(kSide, kSide, testing::SolidRgb(kSide, kSide, 255, 0, 0)), spec, layout);
      ExpectChannels(red, {(1 - .485f) / .229f, (0 - .456f) / .224f, (0 - .406f) / .225f}, tolerance,
                     "red " + what);
      const auto blue =
          Channels(encode(kSide, kSide, testing::SolidRgb(kSide, kSide, 0, 0, 255)), spec, layout);
      ExpectChannels(blue, {(0 - .485f) / .229f, (0 - .456f) / .224f, (1 - .406f) / .225f}, tolerance,
                     "blue " + what);
    }
  }
}

TEST(ChannelOrder, CaffeIsBgr) {
  const auto spec = Small("caffe");
  for (const auto& [name, encode, pixels] : Cases()) {
    for (auto layout : {TensorLayout::kNchw, TensorLayout::kNhwc}) {
      const std::string what = std::string(name) + (layout == TensorLayout::kNchw ? " nchw" : " nhwc");
      const float tolerance = pixels + 1e-3f;
      const auto red =
          Channels(encode(kSide, kSide, testing::SolidRgb(kSide, kSide, 255, 0, 0)), spec, layout);
      ExpectChannels(red, {0 - 103.939f, 0 - 116.779f, 255 - 123.68f}, tolerance, "red " + what);
      const auto blue =
          Channels(encode(kSide, kSide, testing::SolidRgb(kSide, kSide, 0, 0, 255)), spec, layout);
      ExpectChannels(blue, {255 - 103.939f, 0 - 116.779f, 0 - 123.68f}, tolerance, "blue " + what);
    }
  }
}

}  // namespace
}  // namespace orchard
