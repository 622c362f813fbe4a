#include "orchard/image/resize.h"

#include <gtest/gtest.h>
#include <stb/stb_image_resize.h>

#include <cstdint>
#include <random>
#include <vector>

namespace orchard {
namespace {

Image RandomImage(int width, int height, std::mt19937& rng) {
  Image image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& value : image.pixels) value = static_cast<std::uint8_t>(byte(rng));
  return image;
}

std::vector<std::uint8_t> StbBilinear(const Image& src, int width, int height) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(width) * height * 3);
  EXPECT_TRUE(stbir_resize_uint8_generic(src.pixels.data(), src.width, src.height,
                                         static_cast<int>(src.stride()), out.data(), width, height, width * 3,
                                         3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                         STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr));
  return out;
}

std::vector<std::uint8_t> Bilinear(const Image& src, int width, int height) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(width) * height * 3);
  ResizeBilinear(src, width, height, out.data());
  return out;
}

// orchard resamples with its own loops and stb's weights; features must not depend on that, so the bytes
// must be stb's exactly, for every scale ratio (including the odd ones that JPEG DCT scaling produces).
TEST(ResizeBilinear, EnlargingGivesStbBytesExactly) {
  std::mt19937 rng(7);
  for (int in_w : {1, 2, 3, 5, 13, 47, 100, 111, 223}) {
    for (int in_h : {1, 4, 9, 100, 150}) {
      const Image src = RandomImage(in_w, in_h, rng);
      for (int out : {224, 227, 299, 331}) {
        if (out <= in_w || out <= in_h) continue;
        ASSERT_EQ(Bilinear(src, out, out), StbBilinear(src, out, out))
            << in_w << "x" << in_h << " -> " << out << "x" << out;
        ASSERT_EQ(Bilinear(src, out, out - 1), StbBilinear(src, out, out - 1))
            << in_w << "x" << in_h << " -> " << out << "x" << out - 1;
      }
    }
  }
}

TEST(ResizeBilinear, ShrinkingGivesStbBytesExactly) {
  std::mt19937 rng(9);
  for (int in_w : {225, 240, 257, 292, 341, 411, 448, 663, 1001}) {
    for (int in_h : {226, 300, 481, 700}) {
      const Image src = RandomImage(in_w, in_h, rng);
      for (int out : {224, 112, 7, 1}) {
        ASSERT_EQ(Bilinear(src, out, out), StbBilinear(src, out, out))
            << in_w << "x" << in_h << " -> " << out << "x" << out;
      }
    }
  }
}

TEST(ResizeBilinear, MixedAndEqualScalesGiveStbBytesExactly) {
  std::mt19937 rng(11);
  const Image src = RandomImage(300, 180, rng);
  for (auto [w, h] : {std::pair{224, 224}, std::pair{300, 224}, std::pair{400, 100}, std::pair{64, 48},
                      std::pair{300, 180}, std::pair{301, 179}}) {
    EXPECT_EQ(Bilinear(src, w, h), StbBilinear(src, w, h)) << w << "x" << h;
  }
}

}  // namespace
}  // namespace orchard
