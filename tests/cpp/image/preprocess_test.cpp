#include "orchard/image/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "orchard/image/decode.h"
#include "test_codecs.h"

namespace orchard {
namespace {

Image MakeImage(int width, int height, const testing::Bytes& rgb) { return Image{width, height, rgb}; }

// Undoes the imagenet normalisation of channel c, back to 0-255 pixel units.
float ToPixel(float value, const PreprocessSpec& spec, int c) {
  return (value * spec.std[c] + spec.mean[c]) / spec.scale;
}

PreprocessSpec Spec(int width, int height, ResizeMethod resize = ResizeMethod::kBilinear) {
  auto spec = PreprocessSpec::FromPreset("imagenet");
  spec.width = width;
  spec.height = height;
  spec.resize = resize;
  return spec;
}

TEST(Preprocess, SameSizeIsAPureNormalisationInNchw) {
  // 2x1 image: pixel 0 = (0, 128, 255), pixel 1 = (10, 20, 30).
  const Image image = MakeImage(2, 1, {0, 128, 255, 10, 20, 30});
  const auto spec = Spec(2, 1);
  std::vector<float> out(6);
  Preprocess(image, spec, TensorLayout::kNchw, out);
  const float expected[6] = {0, 10, 128, 20, 255, 30};  // plane R, plane G, plane B
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(ToPixel(out[i], spec, i / 2), expected[i], 1e-3) << i;
  EXPECT_FLOAT_EQ(out[4], (1.0f - 0.406f) / 0.225f);
}

TEST(Preprocess, NhwcInterleavesChannels) {
  const Image image = MakeImage(2, 1, {0, 128, 255, 10, 20, 30});
  const auto spec = Spec(2, 1);
  std::vector<float> out(6);
  Preprocess(image, spec, TensorLayout::kNhwc, out);
  const float expected[6] = {0, 128, 255, 10, 20, 30};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(ToPixel(out[i], spec, i % 3), expected[i], 1e-3) << i;
}

TEST(Preprocess, ConstantImageStaysConstantWhenResized) {
  const Image image = MakeImage(5, 3, testing::SolidRgb(5, 3, 40, 80, 120));
  for (auto method : {ResizeMethod::kBilinear, ResizeMethod::kNearest}) {
    for (auto [w, h] : {std::pair{12, 9}, std::pair{2, 2}}) {
      const auto spec = Spec(w, h, method);
      std::vector<float> out(3 * w * h);
      Preprocess(image, spec, TensorLayout::kNchw, out);
      for (int c = 0; c < 3; ++c) {
        for (int i = 0; i < w * h; ++i) ASSERT_NEAR(ToPixel(out[c * w * h + i], spec, c), 40 * (c + 1), 1e-3);
      }
    }
  }
}

TEST(Preprocess, BilinearUpsamplingUsesHalfPixelCentres) {
  // A 2x1 ramp 0 -> 200 upsampled to 4x1: centres at 0.25 and 0.75 of the first pixel's span, so
  // OpenCV INTER_LINEAR gives 0, 50, 150, 200 (edges clamped).
  const Image image = MakeImage(2, 1, {0, 0, 0, 200, 200, 200});
  const auto spec = Spec(4, 1);
  std::vector<float> out(12);
  Preprocess(image, spec, TensorLayout::kNhwc, out);
  const float expected[4] = {0, 50, 150, 200};
  for (int x = 0; x < 4; ++x) EXPECT_NEAR(ToPixel(out[3 * x], spec, 0), expected[x], 0.51) << x;
}

TEST(Preprocess, BilinearDownsamplingAntialiases) {
  // Alternating black/white columns halved: each output pixel averages a pair, instead of picking one.
  testing::Bytes rgb;
  for (int x = 0; x < 8; ++x) rgb.insert(rgb.end(), 3, x % 2 ? 255 : 0);
  const Image image = MakeImage(8, 1, rgb);
  const auto spec = Spec(4, 1);
  std::vector<float> out(12);
  Preprocess(image, spec, TensorLayout::kNhwc, out);
  for (int x = 1; x < 3; ++x) EXPECT_NEAR(ToPixel(out[3 * x], spec, 0), 127.5, 1.0) << x;
}

TEST(Preprocess, NearestPicksTheSourcePixelUnderEachCentre) {
  const Image image = MakeImage(3, 1, {10, 10, 10, 20, 20, 20, 30, 30, 30});
  const auto spec = Spec(6, 1, ResizeMethod::kNearest);
  std::vector<float> out(18);
  Preprocess(image, spec, TensorLayout::kNhwc, out);
  const float expected[6] = {10, 10, 20, 20, 30, 30};
  for (int x = 0; x < 6; ++x) EXPECT_NEAR(ToPixel(out[3 * x], spec, 0), expected[x], 1e-3) << x;
}

TEST(Preprocess, RealSampleUpsampledTo224KeepsItsContent) {
  const Image image =
      DecodeImage(testing::ReadFileBytes(testing::SampleDir() / "Training/Apple Red 1/0_100.jpg"));
  const auto spec = Spec(224, 224);
  std::vector<float> out(3 * 224 * 224);
  Preprocess(image, spec, TensorLayout::kNchw, out);
  for (float v : out) ASSERT_TRUE(std::isfinite(v) && v >= -2.2f && v <= 2.7f) << v;
  // The corner pixel is the white background, the centre the red apple, as in the 100x100 original.
  const int plane = 224 * 224, centre = 112 * 224 + 112;
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(ToPixel(out[c * plane], spec, c), image.pixels[c], 1.0) << c;
  EXPECT_GT(ToPixel(out[centre], spec, 0), ToPixel(out[2 * plane + centre], spec, 2) + 30);
}

TEST(Preprocess, WrongOutputSizeOrEmptyImageIsRejected) {
  const Image image = MakeImage(2, 2, testing::SolidRgb(2, 2, 1, 2, 3));
  std::vector<float> out(3 * 4 - 1);
  EXPECT_THROW(Preprocess(image, Spec(2, 2), TensorLayout::kNchw, out), std::invalid_argument);
  out.resize(3 * 4 + 1);
  EXPECT_THROW(Preprocess(image, Spec(2, 2), TensorLayout::kNhwc, out), std::invalid_argument);
  out.resize(12);
  EXPECT_THROW(Preprocess(Image{}, Spec(2, 2), TensorLayout::kNchw, out), std::invalid_argument);
  EXPECT_NO_THROW(Preprocess(image, Spec(2, 2), TensorLayout::kNchw, out));
}

}  // namespace
}  // namespace orchard
