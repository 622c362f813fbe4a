#include "orchard/model/model_contract.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "orchard/common/error.h"

namespace orchard {
namespace {

constexpr std::string_view kRaw = "raw";

std::string_view LayoutName(TensorLayout layout) { return layout == TensorLayout::kNchw ? "NCHW" : "NHWC"; }

bool IsRawPixels(const PreprocessSpec& spec, InputElementType type) {
  const float shift = type == InputElementType::kInt8 ? 128.0f : 0.0f;
  for (int c = 0; c < 3; ++c) {
    if (spec.mean[c] != shift || spec.std[c] != 1.0f) return false;
  }
  return spec.scale == 1.0f;
}

// "pixels 0..255" for raw, "pixels 0..1" for unit.
std::string PixelRange(const std::string& preset) { return preset == kRaw ? "pixels 0..255" : "pixels 0..1"; }

bool Uniform(const std::array<float, 3>& values) { return values[0] == values[1] && values[1] == values[2]; }

std::string Values(const std::array<float, 3>& values) {
  std::ostringstream out;
  out << std::setprecision(6);
  if (Uniform(values)) {
    out << values[0];
  } else {
    out << "[" << values[0] << ", " << values[1] << ", " << values[2] << "]";
  }
  return out.str();
}

nlohmann::json Json(const std::optional<InputNormalisation>& map) {
  if (!map) return nullptr;
  const auto expected = map->ExpectedPreset();
  return {{"scale", map->scale},
          {"offset", map->offset},
          {"expects", expected ? nlohmann::json(*expected) : nlohmann::json(nullptr)}};
}

}  // namespace

std::string InputNormalisation::ToString() const { return "x * " + Values(scale) + " + " + Values(offset); }

namespace {

// Whether `map` normalises pixels in 0..`pixel_max` (InputNormalisation::ExpectedPreset says when).
bool NormalisesPixelsUpTo(const InputNormalisation& map, float pixel_max) {
  constexpr float kNormalisedWidth = 8.0f;  // 0..1 over a std of 0.2 spans 5; 0..255 over 127.5 spans 2
  for (std::size_t c = 0; c < 3; ++c) {
    const float middle = pixel_max / 2 * map.scale[c] + map.offset[c];
    const float half_width = pixel_max / 2 * std::abs(map.scale[c]);
    // 1e-4 relative: a map that starts the pixels at 0 (1/255) has |middle| == half_width up to rounding.
    const bool holds_zero = map.scale[c] != 0.0f && std::abs(middle) <= half_width * 1.0001f;
    const bool centred_shift = map.scale[c] == 1.0f && std::abs(middle) <= half_width / 2;
    if (!holds_zero || (2 * half_width > kNormalisedWidth && !centred_shift)) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> InputNormalisation::ExpectedPreset() const {
  if (scale == std::array<float, 3>{1, 1, 1} && offset == std::array<float, 3>{0, 0, 0}) return std::nullopt;
  if (NormalisesPixelsUpTo(*this, 255.0f)) return std::string(kRaw);
  if (NormalisesPixelsUpTo(*this, 1.0f)) return std::string("unit");
  return std::nullopt;
}

std::string_view InputElementTypeName(InputElementType type) {
  switch (type) {
    case InputElementType::kFloat:
      return "float";
    case InputElementType::kUint8:
      return "uint8";
    case InputElementType::kInt8:
      return "int8";
  }
  return "unknown";
}

std::string ModelContract::DefaultPreset() const {
  if (input_type != InputElementType::kFloat) return std::string(kRaw);
  const auto expected = input_normalisation ? input_normalisation->ExpectedPreset() : std::nullopt;
  return expected.value_or("imagenet");
}

PreprocessSpec ModelContract::Spec(std::string_view preset) const {
  const std::string name = preset.empty() ? DefaultPreset() : std::string(preset);
  if (input_type != InputElementType::kFloat && name != kRaw) {
    throw UsageError("model " + file.string() + " takes " + std::string(InputElementTypeName(input_type)) +
                     " pixels (its quantisation is inside the graph), so preprocessing '" + name +
                     "' would feed it normalised values; leave --preprocess out or pass raw");
  }
  const auto expected = input_normalisation ? input_normalisation->ExpectedPreset() : std::nullopt;
  if (expected && name != *expected) {
    throw UsageError("model " + file.string() + " normalises its input inside the graph (" +
                     input_normalisation->ToString() + " per channel), so it takes " + PixelRange(*expected) +
                     " and preprocessing '" + name +
                     "' would feed it other values; leave --preprocess out or pass " + *expected);
  }
  PreprocessSpec spec = PreprocessSpec::FromPreset(name);
  // int8 codes are the pixel values shifted by the zero point of a 0..255 input range.
  if (input_type == InputElementType::kInt8) spec.mean = {128.0f, 128.0f, 128.0f};
  spec.width = width;
  spec.height = height;
  return spec;
}

void ModelContract::CheckSpec(const PreprocessSpec& spec) const {
  if (spec.width != width || spec.height != height) {
    throw ModelError("the recorded preprocessing makes " + std::to_string(spec.width) + "x" +
                     std::to_string(spec.height) + " images, model " + file.string() + " takes " +
                     std::to_string(width) + "x" + std::to_string(height));
  }
  if (input_type != InputElementType::kFloat && !IsRawPixels(spec, input_type)) {
    throw ModelError("the recorded preprocessing ('" + spec.preset + "') normalises pixels, but model " +
                     file.string() + " takes raw " + std::string(InputElementTypeName(input_type)) +
                     " pixels");
  }
}

std::size_t ModelContract::BatchFor(std::size_t requested) const {
  if (batch_follows_input || !file_batch) return requested;
  return static_cast<std::size_t>(*file_batch);
}

std::vector<std::string> ModelContract::Notes() const {
  std::vector<std::string> notes;
  const std::string model = "model " + file.filename().string() + ": ";
  if (spatial_size_fixed) {
    notes.push_back(model + "its input size is dynamic; images are resized to " + std::to_string(width) +
                    "x" + std::to_string(height));
  }
  if (!batch_follows_input && file_batch) {
    notes.push_back(model + "its output batch does not follow its input batch (the graph fixes a batch of " +
                    std::to_string(*file_batch) + "), so it runs " + std::to_string(*file_batch) +
                    " image(s) per call");
  }
  if (input_normalisation) {
    const auto expected = input_normalisation->ExpectedPreset();
    notes.push_back(model + "its graph normalises its input first (" + input_normalisation->ToString() +
                    " per channel), " +
                    (expected
                         ? "so the default preprocessing is " + *expected + " (" + PixelRange(*expected) + ")"
                         : "which takes neither pixels 0..255 nor 0..1: check that --preprocess gives what "
                           "it expects"));
  }
  return notes;
}

std::string ModelContract::NotesText() const {
  std::string text;
  for (const auto& note : Notes()) text += "orchard: " + note + "\n";
  return text;
}

nlohmann::json ModelContract::ToJson() const {
  nlohmann::json batch = file_batch ? nlohmann::json(*file_batch) : nlohmann::json("dynamic");
  return {{"file", file.string()},
          {"input",
           {{"name", input_name},
            {"layout", LayoutName(input_layout)},
            {"element_type", input_element_type},
            {"pixels", InputElementTypeName(input_type)},
            {"width", width},
            {"height", height},
            {"spatial_size_fixed_by_orchard", spatial_size_fixed},
            {"normalised_in_graph", Json(input_normalisation)},
            {"batch", batch}}},
          {"output_batch_follows_input", batch_follows_input},
          {"feature_tensor",
           {{"name", feature_tensor}, {"shape", feature_tensor_shape}, {"pooled_axes", pooled_axes}}},
          {"feature_dim", feature_dim},
          {"quantised", quantised},
          {"default_preprocess", DefaultPreset()}};
}

}  // namespace orchard
