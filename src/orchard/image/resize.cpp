#include "orchard/image/resize.h"

#include <stb/stb_image_resize.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <new>
#include <span>
#include <stdexcept>
#include <vector>

namespace orchard {
namespace {

// Enlarging, a tent filter reaches at most three source pixels (usually two).
constexpr int kMaxTaps = 3;

// The filter along one axis: for each output pixel, the (clamped) source indices and weights it sums.
struct AxisFilter {
  std::vector<std::array<int, kMaxTaps>> sources;
  std::vector<std::array<float, kMaxTaps>> weights;
  std::vector<int> taps;
};

float Tent(float x) {
  x = std::fabs(x);
  return x <= 1.0f ? 1 - x : 0;
}

// stb_image_resize's weights for enlarging in_size to out_size, with its float and double operations in its
// order (stbir__calculate_sample_range_upsample, stbir__calculate_coefficients_upsample), so that the sums
// below round to its bytes.
AxisFilter EnlargingFilter(int in_size, int out_size) {
  const float scale = static_cast<float>(out_size) / static_cast<float>(in_size);
  AxisFilter filter{std::vector<std::array<int, kMaxTaps>>(out_size),
                    std::vector<std::array<float, kMaxTaps>>(out_size), std::vector<int>(out_size)};
  for (int n = 0; n < out_size; ++n) {
    const float out_center = static_cast<float>(n) + 0.5f;
    const float in_center = out_center / scale;
    int first = static_cast<int>(std::floor(static_cast<double>((out_center - scale) / scale) + 0.5));
    int last = static_cast<int>(std::floor(static_cast<double>((out_center + scale) / scale) - 0.5));
    std::array<float, kMaxTaps>& weights = filter.weights[n];
    float total = 0;
    for (int i = 0; i <= last - first; ++i) {
      if (i >= kMaxTaps) throw std::logic_error("EnlargingFilter: more taps than a tent filter has");
      const float weight = Tent(in_center - (static_cast<float>(i + first) + 0.5f));
      if (i == 0 && weight == 0) {  // a leading zero weight moves the window instead
        ++first;
        --i;
        continue;
      }
      weights[i] = weight;
      total += weight;
    }
    const float normalise = 1 / total;
    for (int i = 0; i <= last - first; ++i) weights[i] *= normalise;
    while (last >= first && weights[last - first] == 0) --last;
    filter.taps[n] = last - first + 1;
    for (int i = 0; i < filter.taps[n]; ++i) filter.sources[n][i] = std::clamp(first + i, 0, in_size - 1);
  }
  return filter;
}

// stb's encoding is (int)(saturate(v) * 255.0f + 0.5), the addition in double. Enlarging sums non-negative
// weights that add up to 1, so v is >= 0 and exceeds 1 by rounding at most: the float-only form below is then
// equal (trunc plus one when the fraction, exact by Sterbenz, is >= 0.5), and the compiler vectorises it.
void ToBytes(std::span<const float> values, std::uint8_t* dst) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i] * 255.0f;
    const int whole = static_cast<int>(v);
    dst[i] = static_cast<std::uint8_t>(std::min(whole + (v - static_cast<float>(whole) >= 0.5f), 255));
  }
}

// Separable: each source row is filtered horizontally once, then each output row sums two or three of them.
// The per-row loops run over contiguous floats (raw pointers: `dst` may alias anything), and vectorise.
void EnlargeBilinear(const Image& src, int width, int height, std::uint8_t* dst) {
  constexpr int c = Image::kChannels;
  const AxisFilter across = EnlargingFilter(src.width, width);
  const AxisFilter down = EnlargingFilter(src.height, height);
  const std::size_t out_row = static_cast<std::size_t>(width) * c;
  thread_local std::vector<float> rows_buffer;  // the source rows, filtered horizontally
  thread_local std::vector<float> sum_buffer;
  thread_local std::vector<float> unit_buffer;  // one source row as stb decodes it, v / 255.0f
  rows_buffer.resize(static_cast<std::size_t>(src.height) * out_row);
  sum_buffer.resize(out_row);
  unit_buffer.resize(src.stride());
  float* const rows = rows_buffer.data();
  float* const sum = sum_buffer.data();
  float* const unit = unit_buffer.data();
  for (int y = 0; y < src.height; ++y) {
    const std::uint8_t* in = src.row(y).data();
    for (std::size_t i = 0; i < src.stride(); ++i) unit[i] = static_cast<float>(in[i]) / 255.0f;
    float* out = rows + y * out_row;
    for (int x = 0; x < width; ++x, out += c) {
      // The three channels at once: one pass over the taps per pixel, not per value.
      float r = 0, g = 0, b = 0;
      for (int t = 0; t < across.taps[x]; ++t) {
        const float* pixel = unit + across.sources[x][t] * c;
        const float weight = across.weights[x][t];
        r += pixel[0] * weight;
        g += pixel[1] * weight;
        b += pixel[2] * weight;
      }
      out[0] = r;
      out[1] = g;
      out[2] = b;
    }
  }
  for (int y = 0; y < height; ++y, dst += out_row) {
    std::fill(sum, sum + out_row, 0.0f);
    for (int t = 0; t < down.taps[y]; ++t) {
      const float* row = rows + down.sources[y][t] * out_row;
      const float weight = down.weights[y][t];
      for (std::size_t i = 0; i < out_row; ++i) sum[i] += row[i] * weight;
    }
    ToBytes(std::span<const float>(sum, out_row), dst);
  }
}

}  // namespace

void ResizeBilinear(const Image& src, int width, int height, std::uint8_t* dst) {
  // stb enlarges along an axis only when the scale exceeds 1; an equal size goes through its other path.
  if (width > src.width && height > src.height) {
    EnlargeBilinear(src, width, height, dst);
    return;
  }
  // Linear colour space and a triangle filter: stb's tent, widened with the scale when shrinking.
  const int ok = stbir_resize_uint8_generic(
      src.pixels.data(), src.width, src.height, static_cast<int>(src.stride()), dst, width, height,
      width * Image::kChannels, Image::kChannels, STBIR_ALPHA_CHANNEL_NONE, /*flags=*/0, STBIR_EDGE_CLAMP,
      STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, /*alloc_context=*/nullptr);
  if (!ok) throw std::bad_alloc();  // stb's only failure mode with valid arguments
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
