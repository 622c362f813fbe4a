#pragma once

// Internal to the image module: one decoder per format, dispatched by DecodeImage (decode.cpp).

#include <cstdint>
#include <span>

#include "orchard/image/decode.h"
#include "orchard/image/image.h"

namespace orchard::detail {

Image DecodeJpeg(std::span<const std::uint8_t> bytes, const DecodeOptions& options);
Image DecodePng(std::span<const std::uint8_t> bytes, const DecodeOptions& options);
Image DecodeWebp(std::span<const std::uint8_t> bytes, const DecodeOptions& options);

// A packed RGB image of the given size, its pixels allocated (zeroed) once the dimensions have been checked.
Image AllocateImage(int width, int height);

}  // namespace orchard::detail
