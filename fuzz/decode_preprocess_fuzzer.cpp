// libFuzzer target over the path every input file takes in `orchard run`: DecodeImage with the options the
// pipeline uses, then Preprocess into a network tensor. Bytes that are not a usable image must come back as
// an InputError; anything else (a crash, a sanitizer report, another exception, a wrong-sized or non-finite
// result) is a bug. Built by fuzz/CMakeLists.txt, run by scripts/fuzz.sh.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"
#include "orchard/image/preprocess_spec.h"

namespace {

// Small enough that a hostile header cannot exhaust the fuzzer's memory (the production default is 100 Mpx),
// large enough that real photos in the seed corpus still decode.
constexpr std::uint64_t kMaxPixels = 1 << 22;

void Check(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the abort with the input that caused it
}

void PreprocessAndCheck(const orchard::Image& image, const orchard::PreprocessSpec& spec,
                        orchard::TensorLayout layout) {
  std::vector<float> tensor(3 * static_cast<std::size_t>(spec.width) * spec.height);
  orchard::Preprocess(image, spec, layout, tensor);
  for (float v : tensor) Check(std::isfinite(v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Both resize paths and both layouts, with the two presets that differ most (RGB [0,1] and BGR 0-255).
  static const orchard::PreprocessSpec kBilinear = orchard::PreprocessSpec::FromPreset("imagenet");
  static const orchard::PreprocessSpec kNearest = [] {
    auto spec = orchard::PreprocessSpec::FromPreset("caffe");
    spec.resize = orchard::ResizeMethod::kNearest;
    return spec;
  }();

  orchard::DecodeOptions options;
  options.max_pixels = kMaxPixels;
  options.min_width = kBilinear.width;  // as the pipeline asks, so reduced-scale JPEG decoding is exercised
  options.min_height = kBilinear.height;
  orchard::Image image;
  try {
    image = orchard::DecodeImage(std::span(data, size), options);
  } catch (const orchard::InputError&) {
    return 0;  // refused with a reason: the expected outcome for most mutated inputs
  }
  Check(image.width > 0 && image.height > 0);
  Check(static_cast<std::uint64_t>(image.width) * static_cast<std::uint64_t>(image.height) <= kMaxPixels);
  Check(image.pixels.size() == image.stride() * static_cast<std::size_t>(image.height));
  PreprocessAndCheck(image, kBilinear, orchard::TensorLayout::kNchw);
  PreprocessAndCheck(image, kNearest, orchard::TensorLayout::kNhwc);
  return 0;
}
