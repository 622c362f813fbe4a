#include "orchard/image/resample_filter.h"

// StbTriangleFilter asks stb_image_resize for its weights, so its implementation is compiled here (with its
// internal functions in reach) rather than linked from Debian's libstb: that build also keeps assertions on,
// and for some scale ratios (e.g. after the JPEG decoder's DCT downscaling) stb asserts that the sum of a
// pixel's filter weights is below 1.1 (nothings/stb#1449), which would abort the whole job for one image. The
// check is redundant: stb divides every weight by that same sum on the next line.
#define STBIR_ASSERT(condition) ((void)0)
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

#include <algorithm>

namespace orchard {

ResampleFilter StbTriangleFilter(int in_size, int out_size) {
  constexpr stbir_filter kFilter = STBIR_FILTER_TRIANGLE;
  // As stbir_resize_uint8_generic sets it up: the whole image (s0 = 0, s1 = 1), so no shift.
  const float scale = static_cast<float>(out_size) / in_size;
  const int contributors = stbir__get_contributors(scale, kFilter, in_size, out_size);
  const int width = stbir__get_coefficient_width(kFilter, scale);
  std::vector<stbir__contributors> ranges(contributors);
  // stb lets a group hold one weight more than `width` (its assertion allows it), which lands in the next
  // group's first slot, as in stb's own buffer; the slack keeps the last group's inside this one.
  std::vector<float> coefficients(static_cast<std::size_t>(contributors + 2) * width);
  stbir__calculate_filters(ranges.data(), coefficients.data(), kFilter, scale, 0.0f, in_size, out_size);

  const auto clamp = [&](int i) { return std::clamp(i, 0, in_size - 1); };
  ResampleFilter filter;
  if (stbir__use_upsampling(scale)) {
    // Contributor k is output pixel k; its weights are over source pixels n0..n1.
    for (int k = 0; k < out_size; ++k) {
      filter.begin.push_back(static_cast<int>(filter.source.size()));
      for (int i = ranges[k].n0; i <= ranges[k].n1; ++i) {
        filter.source.push_back(clamp(i));
        filter.weight.push_back(coefficients[k * width + i - ranges[k].n0]);
      }
    }
    filter.begin.push_back(static_cast<int>(filter.source.size()));
    return filter;
  }
  // Contributor j is source pixel j - margin, scattered to output pixels n0..n1 (stb visits j in order):
  // count each output's terms, then place them.
  const int margin = stbir__get_filter_pixel_margin(kFilter, scale);
  filter.begin.assign(out_size + 1, 0);
  for (int j = 0; j < contributors; ++j) {
    for (int k = std::max(ranges[j].n0, 0); k <= std::min(ranges[j].n1, out_size - 1); ++k)
      ++filter.begin[k + 1];
  }
  for (int k = 0; k < out_size; ++k) filter.begin[k + 1] += filter.begin[k];
  filter.source.resize(filter.begin[out_size]);
  filter.weight.resize(filter.begin[out_size]);
  std::vector<int> next(filter.begin.begin(), filter.begin.end() - 1);
  for (int j = 0; j < contributors; ++j) {
    for (int k = std::max(ranges[j].n0, 0); k <= std::min(ranges[j].n1, out_size - 1); ++k) {
      filter.source[next[k]] = clamp(j - margin);
      filter.weight[next[k]++] = coefficients[j * width + k - ranges[j].n0];
    }
  }
  return filter;
}

}  // namespace orchard
