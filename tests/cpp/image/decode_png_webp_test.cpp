#include <gtest/gtest.h>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "test_codecs.h"

namespace orchard {
namespace {

using testing::Bytes;

// A small picture where every pixel differs, so a swapped channel or a shifted row shows up.
Bytes Gradient(int width, int height) {
  Bytes rgb(static_cast<std::size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
      p[0] = static_cast<std::uint8_t>(x * 20);
      p[1] = static_cast<std::uint8_t>(y * 30);
      p[2] = static_cast<std::uint8_t>(255 - x * 10 - y);
    }
  }
  return rgb;
}

TEST(DecodePng, RgbRoundTripIsExact) {
  const Bytes rgb = Gradient(7, 5);
  const Image image = DecodeImage(testing::EncodeRgbPng(7, 5, rgb));
  EXPECT_EQ(image.width, 7);
  EXPECT_EQ(image.height, 5);
  EXPECT_EQ(image.pixels, rgb);
}

TEST(DecodePng, GrayBecomesThreeEqualChannels) {
  const Bytes gray = {0, 50, 100, 150, 200, 255};
  const Image image = DecodeImage(testing::EncodePng(3, 2, PNG_COLOR_TYPE_GRAY, 8, gray));
  ASSERT_EQ(image.pixels.size(), 18u);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    EXPECT_EQ(image.pixels[3 * i], gray[i]);
    EXPECT_EQ(image.pixels[3 * i + 1], gray[i]);
    EXPECT_EQ(image.pixels[3 * i + 2], gray[i]);
  }
}

TEST(DecodePng, SixteenBitIsReducedWithoutGammaChange) {
  // Samples are big-endian. 0x8080 must become 128 (plain reduction), not a gamma-encoded ~188.
  const Bytes raw = {0x80, 0x80, 0xFF, 0xFF, 0x00, 0x00,   // pixel 0: 0x8080, 0xFFFF, 0
                     0x40, 0x40, 0x10, 0x10, 0xC0, 0xC0};  // pixel 1
  const Image image = DecodeImage(testing::EncodePng(2, 1, PNG_COLOR_TYPE_RGB, 16, raw));
  EXPECT_EQ(image.pixels, (Bytes{0x80, 0xFF, 0x00, 0x40, 0x10, 0xC0}));
}

TEST(DecodePng, PaletteIsExpanded) {
  const std::vector<png_color> palette = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  const Bytes indices = {2, 0, 1, 1};
  const Image image = DecodeImage(testing::EncodePng(4, 1, PNG_COLOR_TYPE_PALETTE, 8, indices, palette));
  EXPECT_EQ(image.pixels, (Bytes{0, 0, 255, 255, 0, 0, 0, 255, 0, 0, 255, 0}));
}

TEST(DecodePng, AlphaIsDroppedNotComposited) {
  // Half-transparent and fully transparent pixels keep their stored colour.
  const Bytes rgba = {200, 100, 50, 128, 10, 20, 30, 0, 1, 2, 3, 255};
  const Image image = DecodeImage(testing::EncodePng(3, 1, PNG_COLOR_TYPE_RGBA, 8, rgba));
  EXPECT_EQ(image.pixels, (Bytes{200, 100, 50, 10, 20, 30, 1, 2, 3}));
}

TEST(DecodePng, PaletteWithTransparencyKeepsColours) {
  const std::vector<png_color> palette = {{9, 8, 7}, {6, 5, 4}};
  const Image image =
      DecodeImage(testing::EncodePng(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {0, 1}, palette, /*alpha=*/{0, 255}));
  EXPECT_EQ(image.pixels, (Bytes{9, 8, 7, 6, 5, 4}));
}

TEST(DecodePng, HugeDimensionsAreRefusedFromTheHeader) {
  Bytes bytes = testing::EncodeRgbPng(2, 2, Gradient(2, 2));
  // IHDR follows the 8-byte signature: length(4) "IHDR"(4) width(4) height(4) ... CRC over type + data.
  testing::PutBigEndian32(&bytes[16], 100'000);
  testing::PutBigEndian32(&bytes[20], 100'000);
  testing::PutBigEndian32(&bytes[29], testing::Crc32(&bytes[12], 17));
  try {
    DecodeImage(bytes);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
}

TEST(DecodePng, TruncatedFileThrows) {
  const Bytes full = testing::EncodeRgbPng(16, 16, Gradient(16, 16));
  EXPECT_THROW(DecodeImage(Bytes(full.begin(), full.begin() + 40)), InputError);
  EXPECT_THROW(DecodeImage(Bytes(full.begin(), full.end() - 20)), InputError);
}

TEST(DecodeWebp, LosslessRoundTripIsExact) {
  const Bytes rgb = Gradient(9, 4);
  const Image image = DecodeImage(testing::EncodeWebpLossless(9, 4, rgb));
  EXPECT_EQ(image.width, 9);
  EXPECT_EQ(image.height, 4);
  EXPECT_EQ(image.pixels, rgb);
}

TEST(DecodeWebp, TruncatedAndOversizedThrow) {
  const Bytes full = testing::EncodeWebpLossless(32, 32, Gradient(32, 32));
  EXPECT_THROW(DecodeImage(Bytes(full.begin(), full.begin() + full.size() / 2)), InputError);
  EXPECT_THROW(DecodeImage(full, {.max_pixels = 1000}), InputError);
  EXPECT_NO_THROW(DecodeImage(full, {.max_pixels = 1024}));
}

}  // namespace
}  // namespace orchard
