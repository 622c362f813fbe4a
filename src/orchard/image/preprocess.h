#pragma once

#include <span>

#include "orchard/image/image.h"
#include "orchard/image/preprocess_spec.h"

namespace orchard {

// Resizes `image` to spec.width x spec.height and writes the normalised values, in the spec's channel order and
// the given layout, into `out` (exactly 3 * width * height floats: one image's slot of a batch tensor).
void Preprocess(const Image& image, const PreprocessSpec& spec, TensorLayout layout, std::span<float> out);

}  // namespace orchard
