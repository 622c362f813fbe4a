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
  // Images announcing more pixels than this are refused from their header, before any allocation. The limit
  // applies to the stored size, even when a JPEG is then decoded at a reduced DCT scale.
  std::uint64_t max_pixels = 100'000'000;
  // When set (> 0), a JPEG may be decoded at a reduced DCT scale: the smallest M/8 (M = 1..8) keeping each
  // constrained side >= its minimum. Other formats, and JPEGs already smaller, are decoded at full size.
  int min_width = 0;
  int min_height = 0;
};

// Throws InputError when an image of width x height pixels is empty or has more than options.max_pixels, so
// that a hostile or broken header cannot make us allocate gigabytes. Every decoder checks a header with it;
// pixels that come already decoded (the Python API's arrays) are held to the same limit.
void CheckDimensions(std::uint64_t width, std::uint64_t height, const DecodeOptions& options);

// Decodes JPEG, PNG or WebP into 8-bit RGB. Gray is replicated to three channels, alpha is dropped, 16-bit is
// reduced to 8, palette expanded, CMYK JPEG converted. Throws InputError for anything unsupported, corrupt or
// truncated: a half-decoded picture is never returned.
//
// Pixels are taken as stored, like the reference Spark/PIL/OpenCV pipelines read them for training:
// - EXIF orientation is NOT applied (a photo tagged "rotate 90" comes out as the sensor wrote it);
// - alpha is ignored, not composited: transparent pixels keep whatever colour is stored under them;
// - 16-bit PNG without colour information is reduced as sRGB (0x8080 -> 128), like OpenCV and PIL; PNG gAMA
//   and sRGB chunks are honoured by libpng (OpenCV ignores them, so such rare files may differ slightly);
// - CMYK JPEGs are taken to be Adobe-inverted when they carry an Adobe marker, as Photoshop writes them.
Image DecodeImage(std::span<const std::uint8_t> bytes, const DecodeOptions& options = {});

}  // namespace orchard
