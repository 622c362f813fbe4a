#pragma once

#include <cstdint>
#include <span>

#include "orchard/image/decode.h"
#include "orchard/image/image.h"
#include "orchard/image/preprocess_spec.h"

namespace orchard {

// Resizes `image` to spec.width x spec.height and writes the normalised values, in the spec's channel order
// and the given layout, into `out` (exactly 3 * width * height floats: one image's slot of a batch tensor).
// The resize is ResizeBilinear or ResizeNearest (resize.h); bilinear equals OpenCV's INTER_LINEAR when
// enlarging within one step (OpenCV's fixed point being biased low). The aspect ratio is not kept (no crop,
// no padding). Throws std::invalid_argument for a wrong `out` size or an empty image.
void Preprocess(const Image& image, const PreprocessSpec& spec, TensorLayout layout, std::span<float> out);

// How every path that feeds the network decodes (run, predict, serve, the Python binding): a JPEG may be
// decoded at a reduced DCT scale, never below the spec's input size, so that features are the same whichever
// path computed them.
DecodeOptions DecodeOptionsFor(const PreprocessSpec& spec, std::uint64_t max_pixels);

// Decodes `bytes` with DecodeOptionsFor and preprocesses the picture into `out`: one image from file bytes to
// its slot of a batch tensor. `stage` is set to "decode", then "preprocess", so that an error row can name
// the step that threw.
void DecodeAndPreprocess(std::span<const std::uint8_t> bytes, const PreprocessSpec& spec, TensorLayout layout,
                         std::uint64_t max_pixels, std::span<float> out, const char*& stage);

}  // namespace orchard
