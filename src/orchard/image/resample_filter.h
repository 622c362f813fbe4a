#pragma once

#include <vector>

namespace orchard {

// The weights of a separable resize along one axis, gathered per output pixel: output k sums
// source[t] * weight[t] for t in [begin[k], begin[k + 1]), in that order, starting from zero. Sources are
// clamped to the image (edge pixels repeat).
struct ResampleFilter {
  std::vector<int> begin;  // out_size + 1 entries
  std::vector<int> source;
  std::vector<float> weight;
};

// stb_image_resize's triangle filter (linear, clamped edges) from in_size to out_size pixels, computed by stb
// itself and listed in the order stb adds the terms, so that a loop summing them in float rounds to stb's
// bytes exactly — when enlarging (a tent over 2-3 source pixels) and when shrinking (the tent widened by the
// scale, which antialiases).
ResampleFilter StbTriangleFilter(int in_size, int out_size);

}  // namespace orchard
