#include "orchard/image/decode.h"

#include <algorithm>
#include <array>
#include <string>

#include "orchard/common/error.h"
#include "orchard/image/decoders.h"

namespace orchard {
namespace {

constexpr std::array<std::uint8_t, 3> kJpegMagic = {0xFF, 0xD8, 0xFF};
constexpr std::array<std::uint8_t, 8> kPngMagic = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool StartsWith(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> prefix,
                std::size_t at = 0) {
  return bytes.size() >= at + prefix.size() && std::equal(prefix.begin(), prefix.end(), bytes.begin() + at);
}

bool IsWebp(std::span<const std::uint8_t> bytes) {
  constexpr std::array<std::uint8_t, 4> kRiff = {'R', 'I', 'F', 'F'};
  constexpr std::array<std::uint8_t, 4> kWebp = {'W', 'E', 'B', 'P'};
  return StartsWith(bytes, kRiff) && StartsWith(bytes, kWebp, 8);
}

}  // namespace

std::string_view FormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

ImageFormat SniffFormat(std::span<const std::uint8_t> bytes) {
  if (StartsWith(bytes, kJpegMagic)) return ImageFormat::kJpeg;
  if (StartsWith(bytes, kPngMagic)) return ImageFormat::kPng;
  if (IsWebp(bytes)) return ImageFormat::kWebp;
  return ImageFormat::kUnknown;
}

Image DecodeImage(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  if (bytes.empty()) throw InputError("empty file");
  switch (SniffFormat(bytes)) {
    case ImageFormat::kJpeg:
      return detail::DecodeJpeg(bytes, options);
    case ImageFormat::kPng:
      return detail::DecodePng(bytes, options);
    case ImageFormat::kWebp:
      return detail::DecodeWebp(bytes, options);
    case ImageFormat::kUnknown:
      break;
  }
  throw InputError("unsupported image format (not JPEG, PNG or WebP)");
}

void CheckDimensions(std::uint64_t width, std::uint64_t height, const DecodeOptions& options) {
  if (width == 0 || height == 0) throw InputError("image has no pixels (width or height is 0)");
  // Both factors are below 2^32 for every format we read, so the product cannot overflow 64 bits.
  if (width * height > options.max_pixels) {
    throw InputError("image too large: " + std::to_string(width) + "x" + std::to_string(height) +
                     " exceeds the limit of " + std::to_string(options.max_pixels) + " pixels");
  }
}

namespace detail {

Image AllocateImage(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(image.stride() * static_cast<std::size_t>(height));
  return image;
}

}  // namespace detail
}  // namespace orchard
