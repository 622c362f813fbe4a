// libjpeg's warnings, one test per class of jpeg_decoder.cpp's table: the harmless ones decode to the pixels
// of the clean file, the ones that lose pixel data are errors.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "test_codecs.h"

namespace orchard {
namespace {

using testing::Bytes;

// A 64x64 gradient, so that every block has AC coefficients and a restart interval of one MCU row is real.
Bytes GradientJpeg(unsigned restart_interval = 0) {
  Bytes rgb(64 * 64 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 7) % 251);
  return testing::EncodeJpeg(64, 64, rgb, JCS_RGB, 3, false, restart_interval);
}

// The offset of the first `FF code` marker at or after `from`.
std::size_t FindMarker(const Bytes& jpeg, std::uint8_t code, std::size_t from = 2) {
  for (std::size_t i = from; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == code) return i;
  }
  throw std::runtime_error("marker not found");
}

// `count` bytes that are not 0xFF (so not a marker), as a broken writer leaves them.
Bytes InsertJunk(Bytes jpeg, std::size_t at, std::size_t count) {
  jpeg.insert(jpeg.begin() + static_cast<std::ptrdiff_t>(at), count, 0x55);
  return jpeg;
}

void ExpectError(const Bytes& bytes, const std::string& needle) {
  try {
    DecodeImage(bytes);
    ADD_FAILURE() << "expected InputError containing \"" << needle << "\"";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void ExpectSamePixels(const Bytes& bytes, const Bytes& clean) {
  const Image decoded = DecodeImage(bytes);
  const Image expected = DecodeImage(clean);
  ASSERT_EQ(decoded.width, expected.width);
  ASSERT_EQ(decoded.height, expected.height);
  EXPECT_EQ(decoded.pixels, expected.pixels);
}

// JWRN_EXTRANEOUS_DATA outside a scan: "Corrupt JPEG data: N extraneous bytes before marker 0xdb".
TEST(JpegWarnings, ExtraneousBytesBetweenHeaderSegmentsDecodeToTheSamePixels) {
  const Bytes clean = GradientJpeg();
  ExpectSamePixels(InsertJunk(clean, FindMarker(clean, 0xDB), 3), clean);
}

// JWRN_EXTRANEOUS_DATA after the last scan, before EOI: the padding some cameras write.
TEST(JpegWarnings, ExtraneousBytesBeforeEndOfImageDecodeToTheSamePixels) {
  const Bytes clean = GradientJpeg();
  ExpectSamePixels(InsertJunk(clean, clean.size() - 2, 64), clean);
}

// JWRN_JFIF_MAJOR: an unknown JFIF version (APP0 "JFIF\0", then major, minor).
TEST(JpegWarnings, UnknownJfifVersionDecodesToTheSamePixels) {
  const Bytes clean = GradientJpeg();
  Bytes patched = clean;
  const auto jfif = std::search(patched.begin(), patched.end(), std::begin("JFIF"), std::end("JFIF"));
  ASSERT_NE(jfif, patched.end());
  jfif[5] = 3;
  ExpectSamePixels(patched, clean);
}

// JWRN_EXTRANEOUS_DATA before a restart marker: the entropy decoder finished the interval short of its end.
TEST(JpegWarnings, ExtraneousBytesInsideAScanAreAnError) {
  const Bytes clean = GradientJpeg(/*restart_interval=*/4);
  ExpectError(InsertJunk(clean, FindMarker(clean, 0xD0), 64), "extraneous bytes before marker 0xd0");
}

// JWRN_HIT_MARKER: the scan data stops before the last MCU.
TEST(JpegWarnings, ScanCutShortBeforeEndOfImageIsAnError) {
  const Bytes clean = GradientJpeg();
  const std::size_t scan = FindMarker(clean, 0xDA);
  Bytes cut(clean.begin(), clean.begin() + static_cast<std::ptrdiff_t>((scan + clean.size()) / 2));
  cut.insert(cut.end(), {0xFF, 0xD9});
  ExpectError(cut, "premature end of data segment");
}

// JWRN_JPEG_EOF: the file ends inside the scan.
TEST(JpegWarnings, TruncatedFileIsAnError) {
  const Bytes clean = GradientJpeg();
  ExpectError(Bytes(clean.begin(), clean.end() - 40), "Premature end of JPEG file");
}

// JWRN_MUST_RESYNC: a restart marker out of sequence.
TEST(JpegWarnings, RestartMarkerOutOfOrderIsAnError) {
  Bytes patched = GradientJpeg(/*restart_interval=*/4);
  patched[FindMarker(patched, 0xD0) + 1] = 0xD3;
  ExpectError(patched, "instead of RST0");
}

}  // namespace
}  // namespace orchard
