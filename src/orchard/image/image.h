#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace orchard {

// A decoded picture: 8-bit RGB, interleaved, rows packed (stride = 3 * width).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;

  static constexpr int kChannels = 3;
  std::size_t stride() const { return static_cast<std::size_t>(width) * kChannels; }
  std::span<const std::uint8_t> row(int y) const { return {pixels.data() + y * stride(), stride()}; }
};

}  // namespace orchard
