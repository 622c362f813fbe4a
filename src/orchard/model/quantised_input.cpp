// What an integer (quantised) image input expects: the preset its dequantisation's range stands for, and that
// preset's values quantised to its codes (InputNormalisation::ExpectedQuantisedPreset and Quantise, declared
// in model_contract.h).

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "orchard/model/model_contract.h"

namespace orchard {
namespace {

// The codes of an integer input: 0..255 (uint8) or -128..127 (int8).
std::pair<float, float> CodeRange(InputElementType type) {
  return type == InputElementType::kInt8 ? std::pair{-128.0f, 127.0f} : std::pair{0.0f, 255.0f};
}

// A preset's value of pixel `pixel` on network channel c.
float PresetValue(const PreprocessSpec& spec, std::size_t c, float pixel) {
  return (pixel * spec.scale - spec.mean[c]) / spec.std[c];
}

// The per-tensor range (every channel's values together) of an affine `value(c, x)` over x in {low, high}: a
// preset's on pixels 0..255, a map's on the codes. A quantised input has one scale and zero point for all
// channels, calibrated on their union.
template <typename Value>
std::pair<float, float> PerTensorRange(Value value, float low, float high) {
  std::pair range{std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  for (std::size_t c = 0; c < 3; ++c) {
    for (const float x : {low, high}) {
      range.first = std::min(range.first, value(c, x));
      range.second = std::max(range.second, value(c, x));
    }
  }
  return range;
}

// Whether pixel codes as they are (p, or p - 128 for int8) dequantise to the preset's values within one
// quantisation step: the map and the preset are affine in p, so their gap is largest at p = 0 or 255.
bool PixelCodesFit(const InputNormalisation& map, InputElementType type, const PreprocessSpec& spec) {
  const float shift = type == InputElementType::kInt8 ? 128.0f : 0.0f;
  for (std::size_t c = 0; c < 3; ++c) {
    for (const float pixel : {0.0f, 255.0f}) {
      const float gap = map.scale[c] * (pixel - shift) + map.offset[c] - PresetValue(spec, c, pixel);
      if (std::abs(gap) > 1.01f * std::abs(map.scale[c])) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> PresetOfRange(float low, float high) {
  constexpr float kTolerance = 0.1f;  // of the preset's span, at either end: calibration images rarely reach
                                      // both ends of every channel
  std::optional<std::string> best;
  float best_error = kTolerance;
  for (const auto name : kPresetNames) {
    const PreprocessSpec spec = PreprocessSpec::FromPreset(name);
    const auto [preset_low, preset_high] = PerTensorRange(
        [&spec](std::size_t c, float pixel) { return PresetValue(spec, c, pixel); }, 0.0f, 255.0f);
    const float error =
        std::max(std::abs(low - preset_low), std::abs(high - preset_high)) / (preset_high - preset_low);
    if (error > best_error) continue;
    best_error = error;
    best = std::string(name);
  }
  return best;
}

std::optional<std::string> InputNormalisation::ExpectedQuantisedPreset(InputElementType type) const {
  const auto [code_low, code_high] = CodeRange(type);
  const auto [low, high] = PerTensorRange(
      [this](std::size_t c, float code) { return scale[c] * code + offset[c]; }, code_low, code_high);
  const auto preset = PresetOfRange(low, high);
  if (!preset) return std::nullopt;
  return PixelCodesFit(*this, type, PreprocessSpec::FromPreset(*preset)) ? std::string("raw") : *preset;
}

PreprocessSpec InputNormalisation::Quantise(PreprocessSpec spec) const {
  // code = (value - offset) / scale = (pixel * spec.scale - (mean + offset * std)) / (std * scale)
  for (std::size_t c = 0; c < 3; ++c) {
    spec.mean[c] += offset[c] * spec.std[c];
    spec.std[c] *= scale[c];
  }
  return spec;
}

}  // namespace orchard
