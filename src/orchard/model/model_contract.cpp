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

// Whether two specs turn pixels into the same values (up to float rounding).
bool SameValues(const PreprocessSpec& a, const PreprocessSpec& b) {
  const auto close = [](float x, float y) { return std::abs(x - y) <= 1e-5f * std::max(1.0f, std::abs(y)); };
  for (std::size_t c = 0; c < 3; ++c)
    if (!close(a.mean[c], b.mean[c]) || !close(a.std[c], b.std[c])) return false;
  return a.channel_order == b.channel_order && close(a.scale, b.scale);
}

// "int8 codes, which its quantisation maps by x * 0.0186 + 0.261 per channel" (an integer input's map; "int8
// codes" when no dequantisation is seen).
std::string QuantisationText(const ModelContract& contract) {
  const std::string codes = std::string(InputElementTypeName(contract.input_type)) + " codes";
  if (!contract.input_normalisation) return codes;
  return codes + ", which its quantisation maps by " + contract.input_normalisation->ToString() +
         " per channel";
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

nlohmann::json Json(const std::optional<InputNormalisation>& map,
                    const std::optional<std::string>& expected) {
  if (!map) return nullptr;
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

std::optional<std::string> ModelContract::ExpectedPreset() const {
  if (input_type == InputElementType::kFloat)
    return input_normalisation ? input_normalisation->ExpectedPreset() : std::nullopt;
  return input_normalisation ? input_normalisation->ExpectedQuantisedPreset(input_type) : std::string(kRaw);
}

std::string ModelContract::DefaultPreset() const {
  if (input_type != InputElementType::kFloat) return ExpectedPreset().value_or("");
  return ExpectedPreset().value_or(calibrated_preset.value_or("imagenet"));
}

PreprocessSpec ModelContract::Spec(std::string_view preset) const {
  const std::string name = preset.empty() ? DefaultPreset() : std::string(preset);
  const bool integer = input_type != InputElementType::kFloat;
  if (name.empty()) {
    throw UsageError(
        "model " + file.string() + " takes " + QuantisationText(*this) +
        ", the range of no preset; pass --preprocess with the preprocessing it was calibrated on");
  }
  const auto expected = ExpectedPreset();
  if (expected && name != *expected) {
    throw UsageError("model " + file.string() +
                     (integer ? " takes " + QuantisationText(*this) + ", which stand for the " + *expected +
                                    " preset's values,"
                              : " normalises its input inside the graph (" + input_normalisation->ToString() +
                                    " per channel), so it takes " + PixelRange(*expected)) +
                     " and preprocessing '" + name +
                     "' would feed it other values; leave --preprocess out or pass " + *expected);
  }
  PreprocessSpec spec = PreprocessSpec::FromPreset(name);
  if (integer && name == kRaw) {
    // Pixel codes as they are: int8 codes are the pixels shifted by the zero point of a 0..255 range.
    if (input_type == InputElementType::kInt8) spec.mean = {128.0f, 128.0f, 128.0f};
  } else if (integer) {
    spec = input_normalisation->Quantise(spec);
  }
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
  if (input_type == InputElementType::kFloat) return;
  const std::string mismatch = "the recorded preprocessing ('" + spec.preset +
                               "') does not give the codes model " + file.string() + " takes";
  PreprocessSpec fitting;
  try {
    fitting = Spec(spec.preset);
  } catch (const UsageError& e) {
    throw ModelError(mismatch + ": " + e.what());
  }
  if (!SameValues(fitting, spec)) throw ModelError(mismatch + "; featurise again with this model");
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
  if (input_normalisation && input_type != InputElementType::kFloat) {
    const auto expected = ExpectedPreset();
    if (expected != kRaw) {
      notes.push_back(model + "its input takes " + QuantisationText(*this) + ", " +
                      (expected ? "the " + *expected + " preset's values, which orchard quantises to them"
                                : "the range of no preset: pass --preprocess"));
    }
  } else if (input_normalisation) {
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
            {"normalised_in_graph", Json(input_normalisation, ExpectedPreset())},
            {"batch", batch},
            {"calibrated_preset",
             calibrated_preset ? nlohmann::json(*calibrated_preset) : nlohmann::json(nullptr)}}},
          {"output_batch_follows_input", batch_follows_input},
          {"feature_tensor",
           {{"name", feature_tensor}, {"shape", feature_tensor_shape}, {"pooled_axes", pooled_axes}}},
          {"feature_dim", feature_dim},
          {"quantised", quantised},
          {"activations_quantised", activations_quantised},
          {"default_preprocess",
           DefaultPreset().empty() ? nlohmann::json(nullptr) : nlohmann::json(DefaultPreset())}};
}

}  // namespace orchard
