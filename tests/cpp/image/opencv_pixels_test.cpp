// ImageFromOpenCv: pixels Spark's image source (and OpenCV) decoded, in B, G, R[, A] or gray order, become
// the same R, G, B picture DecodeImage makes of the same pixels stored as PNG, so that both readers share one
// preprocessing path without a channel swap (the seed's "blue image" bug). Every size is checked first.

#include "orchard/image/opencv_pixels.h"

#include <gtest/gtest.h>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "test_codecs.h"

namespace orchard {
namespace {

using testing::Bytes;

constexpr int kWidth = 3, kHeight = 2;

// Distinct values per pixel and channel, packed RGB.
Bytes Gradient() {
  Bytes rgb(kWidth * kHeight * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(7 + 31 * i);
  return rgb;
}

// The RGB pixels reordered to B, G, R, with an alpha channel appended when `alpha`.
Bytes ToBgr(const Bytes& rgb, bool alpha) {
  Bytes bgr;
  for (std::size_t i = 0; i < rgb.size(); i += 3) {
    bgr.insert(bgr.end(), {rgb[i + 2], rgb[i + 1], rgb[i]});
    if (alpha) bgr.push_back(static_cast<std::uint8_t>(i));  // varying alpha: must be ignored
  }
  return bgr;
}

OpenCvPixels View(const Bytes& data, int channels, int height = kHeight, int width = kWidth) {
  return {height, width, channels, (channels - 1) * 8, data};
}

TEST(ImageFromOpenCv, BgrBecomesTheRgbPictureOfTheSamePng) {
  const Bytes rgb = Gradient();
  const Image from_png = DecodeImage(testing::EncodeRgbPng(kWidth, kHeight, rgb));
  const Bytes bgr = ToBgr(rgb, false);
  const Image image = ImageFromOpenCv(View(bgr, 3), {});
  EXPECT_EQ(image.width, kWidth);
  EXPECT_EQ(image.height, kHeight);
  EXPECT_EQ(image.pixels, rgb);
  EXPECT_EQ(image.pixels, from_png.pixels);
}

TEST(ImageFromOpenCv, PureRedStaysRedAndBlueStaysBlue) {
  const Bytes red_bgr = ToBgr(testing::SolidRgb(kWidth, kHeight, 255, 0, 0), false);
  const Bytes blue_bgr = ToBgr(testing::SolidRgb(kWidth, kHeight, 0, 0, 255), false);
  EXPECT_EQ(ImageFromOpenCv(View(red_bgr, 3), {}).pixels, testing::SolidRgb(kWidth, kHeight, 255, 0, 0));
  EXPECT_EQ(ImageFromOpenCv(View(blue_bgr, 3), {}).pixels, testing::SolidRgb(kWidth, kHeight, 0, 0, 255));
}

TEST(ImageFromOpenCv, BgraDropsAlphaAsTheRgbaPngDecoderDoes) {
  const Bytes rgb = Gradient();
  const Bytes bgra = ToBgr(rgb, true);
  Bytes rgba;
  for (std::size_t i = 0; i < bgra.size(); i += 4)
    rgba.insert(rgba.end(), {bgra[i + 2], bgra[i + 1], bgra[i], bgra[i + 3]});
  const Image from_png = DecodeImage(testing::EncodePng(kWidth, kHeight, PNG_COLOR_TYPE_RGBA, 8, rgba));
  const Image image = ImageFromOpenCv(View(bgra, 4), {});
  EXPECT_EQ(image.pixels, rgb);
  EXPECT_EQ(image.pixels, from_png.pixels);
}

TEST(ImageFromOpenCv, GrayIsReplicatedAsTheGrayPngDecoderDoes) {
  const Bytes gray = {0, 40, 80, 120, 200, 255};
  const Image from_png = DecodeImage(testing::EncodePng(kWidth, kHeight, PNG_COLOR_TYPE_GRAY, 8, gray));
  const Image image = ImageFromOpenCv(View(gray, 1), {});
  EXPECT_EQ(image.pixels,
            (Bytes{0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120, 200, 200, 200, 255, 255, 255}));
  EXPECT_EQ(image.pixels, from_png.pixels);
}

TEST(ImageFromOpenCv, DataNotMatchingItsSizeIsAnInputErrorNamingBoth) {
  const Bytes bgr = ToBgr(Gradient(), false);
  const Bytes short_data(bgr.begin(), bgr.end() - 1);
  try {
    ImageFromOpenCv(View(short_data, 3), {});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "pixel data holds 17 bytes, height 2 x width 3 x 3 channels need 18");
  }
  Bytes long_data = bgr;
  long_data.push_back(0);
  EXPECT_THROW(ImageFromOpenCv(View(long_data, 3), {}), InputError);
  EXPECT_THROW(ImageFromOpenCv(View(bgr, 4), {}), InputError);  // 18 bytes are not 3 x 2 x 4
}

TEST(ImageFromOpenCv, SparksRowForAnUndecodableFileIsAnInputError) {
  // ImageSchema.invalidImageRow: height, width, nChannels and mode -1, no data.
  const OpenCvPixels invalid{-1, -1, -1, -1, {}};
  try {
    ImageFromOpenCv(invalid, {});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "no decoded picture (height -1, width -1, 0 bytes of data): the reader could not decode the image");
  }
}

TEST(ImageFromOpenCv, ChannelCountAndTypeMustBeEightBitOneThreeOrFour) {
  const Bytes data(kWidth * kHeight * 2);
  EXPECT_THROW(ImageFromOpenCv({kHeight, kWidth, 2, 8, data}, {}), InputError);
  const Bytes bgr = ToBgr(Gradient(), false);
  EXPECT_THROW(ImageFromOpenCv({kHeight, kWidth, 3, 0, bgr}, {}), InputError);   // CV_8UC1 with 3 channels
  EXPECT_THROW(ImageFromOpenCv({kHeight, kWidth, 3, 18, bgr}, {}), InputError);  // CV_16UC3
}

TEST(ImageFromOpenCv, MorePixelsThanTheLimitAreRefusedBeforeTheDataIsRead) {
  DecodeOptions options;
  options.max_pixels = kWidth * kHeight - 1;
  try {
    ImageFromOpenCv(View({}, 3), options);  // no data: the size check comes first
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "image too large: 3x2 exceeds the limit of 5 pixels");
  }
}

}  // namespace
}  // namespace orchard
