#include "orchard/image/opencv_pixels.h"

#include <string>

#include "orchard/common/error.h"

namespace orchard {
namespace {

// OpenCV's CV_MAKETYPE(CV_8U, channels): the depth code of 8-bit unsigned is 0, the channel count - 1 is
// stored from bit 3 up.
constexpr int Cv8uType(int channels) { return (channels - 1) << 3; }

void CheckLayout(const OpenCvPixels& pixels, const DecodeOptions& options) {
  if (pixels.height <= 0 || pixels.width <= 0) {
    throw InputError("no decoded picture (height " + std::to_string(pixels.height) + ", width " +
                     std::to_string(pixels.width) + ", " + std::to_string(pixels.data.size()) +
                     " bytes of data): the reader could not decode the image");
  }
  if (pixels.channels != 1 && pixels.channels != 3 && pixels.channels != 4) {
    throw InputError("unsupported channel count " + std::to_string(pixels.channels) +
                     " (expected 1 gray, 3 BGR or 4 BGRA)");
  }
  if (pixels.type != Cv8uType(pixels.channels)) {
    throw InputError("unsupported OpenCV type " + std::to_string(pixels.type) + " for " +
                     std::to_string(pixels.channels) + " channels (expected " +
                     std::to_string(Cv8uType(pixels.channels)) + ", 8-bit unsigned)");
  }
  CheckDimensions(static_cast<std::uint64_t>(pixels.width), static_cast<std::uint64_t>(pixels.height),
                  options);
  // Each side is below 2^31 and channels <= 4, so the product cannot overflow 64 bits.
  const auto expected = static_cast<std::uint64_t>(pixels.width) * static_cast<std::uint64_t>(pixels.height) *
                        static_cast<std::uint64_t>(pixels.channels);
  if (pixels.data.size() != expected) {
    throw InputError("pixel data holds " + std::to_string(pixels.data.size()) + " bytes, height " +
                     std::to_string(pixels.height) + " x width " + std::to_string(pixels.width) + " x " +
                     std::to_string(pixels.channels) + " channels need " + std::to_string(expected));
  }
}

}  // namespace

Image ImageFromOpenCv(const OpenCvPixels& pixels, const DecodeOptions& options) {
  CheckLayout(pixels, options);
  Image image;
  image.width = pixels.width;
  image.height = pixels.height;
  const auto count = static_cast<std::size_t>(pixels.width) * static_cast<std::size_t>(pixels.height);
  image.pixels.resize(count * Image::kChannels);
  const auto channels = static_cast<std::size_t>(pixels.channels);
  const std::uint8_t* in = pixels.data.data();
  std::uint8_t* out = image.pixels.data();
  for (std::size_t i = 0; i < count; ++i, in += channels, out += Image::kChannels) {
    if (channels == 1) {
      out[0] = out[1] = out[2] = in[0];
    } else {  // B, G, R[, A] -> R, G, B
      out[0] = in[2];
      out[1] = in[1];
      out[2] = in[0];
    }
  }
  return image;
}

}  // namespace orchard
