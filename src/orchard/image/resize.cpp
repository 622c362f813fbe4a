#include "orchard/image/resize.h"

#include <algorithm>
#include <span>
#include <vector>

#include "orchard/image/resample_filter.h"

namespace orchard {
namespace {

// stb's encoding is (int)(saturate(v) * 255.0f + 0.5), the addition in double. The filters' weights are
// non-negative and add up to 1, so v is >= 0 and exceeds 1 by rounding at most: the float-only form below is
// then equal (trunc plus one when the fraction, exact by Sterbenz, is >= 0.5), and the compiler vectorises
// it.
void ToBytes(std::span<const float> values, std::uint8_t* dst) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i] * 255.0f;
    const int whole = static_cast<int>(v);
    dst[i] = static_cast<std::uint8_t>(std::min(whole + (v - static_cast<float>(whole) >= 0.5f), 255));
  }
}

// Filters one source row horizontally: for each output pixel, the three channels at once.
void ResampleRow(const ResampleFilter& across, const float* unit, float* out) {
  constexpr int c = Image::kChannels;
  const std::size_t width = across.begin.size() - 1;
  for (std::size_t x = 0; x < width; ++x, out += c) {
    float r = 0, g = 0, b = 0;
    for (int t = across.begin[x]; t < across.begin[x + 1]; ++t) {
      const float* pixel = unit + across.source[t] * c;
      const float weight = across.weight[t];
      r += pixel[0] * weight;
      g += pixel[1] * weight;
      b += pixel[2] * weight;
    }
    out[0] = r;
    out[1] = g;
    out[2] = b;
  }
}

// Photos of a data set mostly share a size: each thread keeps its last filter per axis.
const ResampleFilter& CachedFilter(int in_size, int out_size, int axis) {
  struct Cached {
    int in_size = 0;
    int out_size = 0;
    ResampleFilter filter;
  };
  thread_local Cached cache[2];
  Cached& cached = cache[axis];
  if (cached.in_size != in_size || cached.out_size != out_size)
    cached = {in_size, out_size, StbTriangleFilter(in_size, out_size)};
  return cached.filter;
}

}  // namespace

// Separable: each source row is decoded to floats as stb does (v / 255.0f) and filtered horizontally once,
// then each output row sums the rows its vertical weights name. The per-row loops run over contiguous floats
// (raw pointers: `dst` may alias anything), and vectorise.
void ResizeBilinear(const Image& src, int width, int height, std::uint8_t* dst) {
  const ResampleFilter& across = CachedFilter(src.width, width, 0);
  const ResampleFilter& down = CachedFilter(src.height, height, 1);
  const std::size_t out_row = static_cast<std::size_t>(width) * Image::kChannels;
  thread_local std::vector<float> rows_buffer;  // the source rows, filtered horizontally
  thread_local std::vector<float> sum_buffer;
  thread_local std::vector<float> unit_buffer;  // one source row as stb decodes it
  // Only a window of filtered source rows is kept, a ring indexed by source row: output row y reads rows
  // [lowest source of y, highest source of rows 0..y], so the ring spans the widest such window. Keeping
  // every source row would cost height x out_row floats: 1 GB for a 1 x 400,000 image, whatever its few
  // bytes.
  std::vector<int> reach(height);  // the highest source row filtered once output row y is reached
  int span = 1;
  for (int y = 0, highest = -1; y < height; ++y) {
    int lowest = src.height;
    for (int t = down.begin[y]; t < down.begin[y + 1]; ++t) {
      lowest = std::min(lowest, down.source[t]);
      highest = std::max(highest, down.source[t]);
    }
    reach[y] = highest;
    span = std::max(span, highest - lowest + 1);
  }
  rows_buffer.resize(static_cast<std::size_t>(span) * out_row);
  sum_buffer.resize(out_row);
  unit_buffer.resize(src.stride());
  float* const rows = rows_buffer.data();
  float* const sum = sum_buffer.data();
  float* const unit = unit_buffer.data();
  const auto ring = [&](int source) { return rows + static_cast<std::size_t>(source % span) * out_row; };
  int filtered = 0;
  for (int y = 0; y < height; ++y, dst += out_row) {
    for (; filtered <= reach[y]; ++filtered) {
      const std::uint8_t* in = src.row(filtered).data();
      for (std::size_t i = 0; i < src.stride(); ++i) unit[i] = static_cast<float>(in[i]) / 255.0f;
      ResampleRow(across, unit, ring(filtered));
    }
    std::fill(sum, sum + out_row, 0.0f);
    for (int t = down.begin[y]; t < down.begin[y + 1]; ++t) {
      const float* row = ring(down.source[t]);
      const float weight = down.weight[t];
      for (std::size_t i = 0; i < out_row; ++i) sum[i] += row[i] * weight;
    }
    ToBytes(std::span<const float>(sum, out_row), dst);
  }
}

// stb has no nearest-neighbour filter (its BOX filter averages when downsampling), so map indices directly.
void ResizeNearest(const Image& src, int width, int height, std::uint8_t* dst) {
  std::vector<int> src_x(width);
  for (int x = 0; x < width; ++x) {
    src_x[x] = std::min(static_cast<int>((x + 0.5) * src.width / width), src.width - 1);
  }
  for (int y = 0; y < height; ++y) {
    const int sy = std::min(static_cast<int>((y + 0.5) * src.height / height), src.height - 1);
    const std::uint8_t* row = src.row(sy).data();
    for (int x = 0; x < width; ++x, dst += Image::kChannels) {
      const std::uint8_t* p = row + src_x[x] * Image::kChannels;
      dst[0] = p[0];
      dst[1] = p[1];
      dst[2] = p[2];
    }
  }
}

}  // namespace orchard
