#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "orchard/image/image.h"

namespace orchard {

enum class ImageFormat { kJpeg, kPng, kWebp, kUnknown };

std::string_view FormatName(ImageFormat format);

// The format is told by the content's magic bytes, never by the file name.
ImageFormat SniffFormat(std::span<const std::uint8_t> bytes);

struct DecodeOptions {
  // Images announcing more pixels than this are refused from their header, before any allocation.
  std::uint64_t max_pixels = 100'000'000;
  // When set (> 0), a JPEG may be decoded at a reduced DCT scale, as long as both sides stay >= these.
  int min_width = 0;
  int min_height = 0;
};

// Decodes JPEG, PNG or WebP into 8-bit RGB. Gray is replicated to three channels, alpha is dropped, 16-bit is
// reduced to 8, palette expanded, CMYK JPEG converted. Throws InputError for anything unsupported, corrupt or
// truncated: a half-decoded picture is never returned.
Image DecodeImage(std::span<const std::uint8_t> bytes, const DecodeOptions& options = {});

}  // namespace orchard
