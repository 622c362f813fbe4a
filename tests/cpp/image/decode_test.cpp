#include "orchard/image/decode.h"

#include <gtest/gtest.h>

#include <random>

#include "orchard/common/error.h"
#include "test_codecs.h"

namespace orchard {
namespace {

using testing::Bytes;

Bytes SampleJpeg() { return testing::ReadFileBytes(testing::SampleDir() / "Training/Apple Red 1/0_100.jpg"); }

// Asserts that decoding throws InputError whose message contains `needle`.
void ExpectInputError(const Bytes& bytes, const std::string& needle, const DecodeOptions& options = {}) {
  try {
    DecodeImage(bytes, options);
    ADD_FAILURE() << "expected InputError containing \"" << needle << "\"";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SniffFormat, RecognisesMagicBytesOnly) {
  EXPECT_EQ(SniffFormat(Bytes{0xFF, 0xD8, 0xFF, 0xE0}), ImageFormat::kJpeg);
  EXPECT_EQ(SniffFormat(Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}), ImageFormat::kPng);
  EXPECT_EQ(SniffFormat(Bytes{'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'E', 'B', 'P'}), ImageFormat::kWebp);
  EXPECT_EQ(SniffFormat(Bytes{'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'A', 'V', 'E'}), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat(Bytes{0xFF, 0xD8}), ImageFormat::kUnknown);  // too short to be sure
  EXPECT_EQ(SniffFormat(Bytes{}), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat(testing::EncodeRgbPng(1, 1, {1, 2, 3})), ImageFormat::kPng);
  EXPECT_EQ(FormatName(ImageFormat::kWebp), "webp");
}

TEST(DecodeJpeg, RealSampleIs100x100Rgb) {
  const Image image = DecodeImage(SampleJpeg());
  EXPECT_EQ(image.width, 100);
  EXPECT_EQ(image.height, 100);
  ASSERT_EQ(image.pixels.size(), 100u * 100u * 3u);
  // Fruits-360 photos are shot on white: the corner is near white, the centre (a red apple) is not.
  const auto corner = image.row(0);
  EXPECT_GT(corner[0] + corner[1] + corner[2], 3 * 230);
  const auto centre = image.row(50).subspan(50 * 3, 3);
  EXPECT_GT(centre[0], centre[2]) << "a red apple's centre should have more red than blue";
}

TEST(DecodeJpeg, GrayscaleBecomesThreeEqualChannels) {
  Bytes gray(16 * 8);
  for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<std::uint8_t>(i * 2);
  const Image image = DecodeImage(testing::EncodeJpeg(16, 8, gray, JCS_GRAYSCALE, 1));
  ASSERT_EQ(image.pixels.size(), 16u * 8u * 3u);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    EXPECT_EQ(image.pixels[3 * i], image.pixels[3 * i + 1]);
    EXPECT_EQ(image.pixels[3 * i], image.pixels[3 * i + 2]);
    EXPECT_NEAR(image.pixels[3 * i], gray[i], 2);
  }
}

TEST(DecodeJpeg, AdobeCmykIsConvertedToRgb) {
  // Red is no cyan, full magenta and yellow, no black; Adobe stores 255 - ink, so C,M,Y,K = 255, 0, 0, 255.
  Bytes cmyk;
  for (int i = 0; i < 8 * 8; ++i) cmyk.insert(cmyk.end(), {255, 0, 0, 255});
  const Image image = DecodeImage(testing::EncodeJpeg(8, 8, cmyk, JCS_CMYK, 4));
  ASSERT_EQ(image.pixels.size(), 8u * 8u * 3u);
  EXPECT_NEAR(image.pixels[0], 255, 2);
  EXPECT_NEAR(image.pixels[1], 0, 2);
  EXPECT_NEAR(image.pixels[2], 0, 2);
}

TEST(DecodeJpeg, TruncatedFileThrowsInsteadOfReturningGrey) {
  const Bytes full = SampleJpeg();
  const Bytes half(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(full.size() / 2));
  ExpectInputError(half, "JPEG");
  // Losing only the final EOI marker is still truncation.
  const Bytes no_eoi(full.begin(), full.end() - 2);
  ExpectInputError(no_eoi, "Premature end");
}

// A progressive JPEG whose last scan is repeated `extra` times: valid markers, a bogus but tolerated
// progression.
Bytes ProgressiveJpegWithExtraScans(int extra) {
  const Bytes rgb(16 * 16 * 3, 128);
  const Bytes jpeg = testing::EncodeJpeg(16, 16, rgb, JCS_RGB, 3, /*progressive=*/true);
  std::size_t last_scan = 0;
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) last_scan = i;
  }
  const auto scan_begin = jpeg.begin() + static_cast<std::ptrdiff_t>(last_scan);
  const auto eoi = jpeg.end() - 2;
  Bytes out(jpeg.begin(), eoi);
  for (int i = 0; i < extra; ++i) out.insert(out.end(), scan_begin, eoi);
  out.insert(out.end(), eoi, jpeg.end());
  return out;
}

TEST(DecodeJpeg, ProgressiveScansAreLimited) {
  EXPECT_EQ(DecodeImage(ProgressiveJpegWithExtraScans(20)).width, 16);  // repeated scans alone are tolerated
  ExpectInputError(ProgressiveJpegWithExtraScans(600), "more than 500 scans");
}

TEST(DecodeJpeg, HugeDimensionsAreRefusedFromTheHeader) {
  Bytes bytes = SampleJpeg();
  // Patch the frame header (SOFn: FF C0..C2, length, precision, height, width) to announce 60000 x 60000.
  bool patched = false;
  for (std::size_t i = 2; i + 9 < bytes.size() && !patched; ++i) {
    if (bytes[i] == 0xFF && bytes[i + 1] >= 0xC0 && bytes[i + 1] <= 0xC2) {
      bytes[i + 5] = 0xEA, bytes[i + 6] = 0x60, bytes[i + 7] = 0xEA, bytes[i + 8] = 0x60;
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  ExpectInputError(bytes, "too large");
  ExpectInputError(SampleJpeg(), "too large", DecodeOptions{.max_pixels = 9999});
}

TEST(DecodeJpeg, DctScalingKeepsBothSidesAboveTheMinimum) {
  const Bytes bytes = testing::ReadFileBytes(testing::OriginalSizeDir() / "Training/apple_red_1/r0_0.jpg");
  const Image full = DecodeImage(bytes);
  const Image reduced = DecodeImage(bytes, {.min_width = 224, .min_height = 224});
  EXPECT_GE(reduced.width, 224);
  EXPECT_GE(reduced.height, 224);
  EXPECT_LT(reduced.width, full.width);
  EXPECT_LT(reduced.height, full.height);
  // 420x452 -> the smallest scale keeping 224 is 5/8 (4/8 would give 210 wide): ceil(420*5/8) x
  // ceil(452*5/8).
  ASSERT_EQ(full.width, 420);
  ASSERT_EQ(full.height, 452);
  EXPECT_EQ(reduced.width, 263);
  EXPECT_EQ(reduced.height, 283);
  EXPECT_EQ(reduced.pixels.size(), reduced.stride() * reduced.height);
}

TEST(DecodeImage, RejectsEmptyAndUnknownInput) {
  ExpectInputError({}, "empty file");
  std::mt19937 rng(42);
  Bytes noise(4096);
  for (auto& b : noise) b = static_cast<std::uint8_t>(rng());
  noise[0] = 0x00;  // make sure the noise does not start with a magic number by chance
  ExpectInputError(noise, "unsupported image format");
  // Right magic, garbage afterwards.
  Bytes fake_jpeg = {0xFF, 0xD8, 0xFF};
  fake_jpeg.insert(fake_jpeg.end(), noise.begin(), noise.end());
  EXPECT_THROW(DecodeImage(fake_jpeg), InputError);
  Bytes fake_png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  fake_png.insert(fake_png.end(), noise.begin(), noise.end());
  EXPECT_THROW(DecodeImage(fake_png), InputError);
}

}  // namespace
}  // namespace orchard
