#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/image/preprocess_spec.h"

namespace orchard {

// The element type of the model's image input, which decides what pixel values the network expects.
enum class InputElementType {
  kFloat,  // preprocessed floats (a preset's scale, mean and std)
  kUint8,  // quantised codes 0..255 (TFLite with uint8 input): ExpectedQuantisedPreset() says of what values
  kInt8,   // quantised codes -128..127 (TFLite with int8 input)
};

// Layout of a spatial tensor inside the graph: where its channel axis is. ONNX graphs are channels-first
// whatever their input layout (an NHWC exporter transposes right after the input); TFLite graphs are
// channels-last.
enum class ChannelAxis { kFirst, kLast };

// A per-channel affine map, x -> scale[c] * x + offset[c], in the input's channel order (R, G, B for an RGB
// input): what a graph's first ops do to its input when it normalises pixels itself (Keras' Rescaling and
// Normalization layers, which tf2onnx exports as Mul/Add/Sub/Div by constants; a mean and std baked in).
struct InputNormalisation {
  std::array<float, 3> scale{1.0f, 1.0f, 1.0f};
  std::array<float, 3> offset{0.0f, 0.0f, 0.0f};

  // The preset whose pixels the map normalises: "raw" (0..255) or "unit" (0..1), "raw" tried first; empty
  // when neither, or for the identity. A map normalises pixels of a range when, on every channel, the range
  // it maps them to holds 0 (it centres or starts them there) and spans at most 8 (1/255, 1/127.5 - 1 and
  // (x/255 - mean)/std on 0..255; (x - mean)/std, torchvision's Normalize, on 0..1), or it is a shift that
  // centres them (x - 123.68, caffe's mean, on 0..255).
  std::optional<std::string> ExpectedPreset() const;
  // "x * 0.00784314 + -1"; a value per channel as "[r, g, b]" when the channels differ.
  std::string ToString() const;

  // For an integer input (`type` kUint8 or kInt8), this map being its dequantisation (FakeQuantize's affine
  // part, and any normalisation after it): the preset whose values its codes stand for. That is the preset
  // (raw, unit, tf, imagenet, caffe) whose range on pixels 0..255, all channels together, the codes' range
  // dequantises to within a tenth of its span at either end (a calibration's range: TFLite quantises the
  // input per tensor on the calibration images); "raw" when pixel codes as they are (p, or p - 128 for int8)
  // already dequantise to it within one step (a uint8 MobileNet at 1/128 around 128, a model calibrated on
  // pixels 0..255); empty when no preset's range matches.
  std::optional<std::string> ExpectedQuantisedPreset(InputElementType type) const;
  // `spec` quantised by this dequantisation: its values become the codes that dequantise to `spec`'s values
  // (code = (value - offset) / scale: mean + offset * std, std * scale), which the graph rounds to the
  // nearest even and clamps to the type's range.
  PreprocessSpec Quantise(PreprocessSpec spec) const;
};

// The preset whose values on pixels 0..255, all channels together, span [low, high] within a tenth of its
// span at either end (a calibration's range); empty when none does.
std::optional<std::string> PresetOfRange(float low, float high);

// What orchard reads from a model file, once, and what every consumer (run, predict, serve, the Python
// binding, Spark) takes its preprocessing, batching and pooling from.
struct ModelContract {
  std::filesystem::path file;
  // The image input, as the file declares it. Spatial sizes the file leaves dynamic are fixed at 224×224.
  std::string input_name;
  TensorLayout input_layout = TensorLayout::kNchw;
  InputElementType input_type = InputElementType::kFloat;
  std::string input_element_type;  // OpenVINO's name of the file's input type: "f32", "u8", "i8", ...
  int width = 224;
  int height = 224;
  bool spatial_size_fixed = false;         // true when the file's H/W were dynamic and orchard chose 224×224
  std::optional<std::int64_t> file_batch;  // the input's batch as the file fixes it; empty when dynamic
  // Whether the output's batch dimension follows the input's (checked by shape inference at two batch
  // sizes). A graph that hard-codes its batch (e.g. Reshape to [1, 8, -1]) does not: it runs at file_batch.
  bool batch_follows_input = true;
  // The tensor the graph is cut at, its shape in the graph (e.g. "[?,2048,7,7]") and the axes of that tensor
  // averaged into the feature vector (empty: it is already one vector per image, or is flattened).
  std::string feature_tensor;
  std::string feature_tensor_shape;
  std::vector<std::int64_t> pooled_axes;
  std::size_t feature_dim = 0;
  bool quantised = false;  // the graph holds quantisation (FakeQuantize or integer weights dequantised)
  // Its activations are quantised too (FakeQuantize: a full-integer TFLite, a QDQ or QOperator ONNX model),
  // not only its weights (a dynamic-range TFLite, an ONNX model quantised dynamically): what int8 needs.
  bool activations_quantised = false;
  // A float input quantised by the graph's first op (a full-integer TFLite whose input and output stay float,
  // a QDQ model's QuantizeLinear): the preset whose range that quantisation was calibrated on
  // (PresetOfRange). The default preprocessing then, not enforced: the range tells what the model was fed.
  std::optional<std::string> calibrated_preset;
  // What the graph's first ops do to its input, when they are a per-channel affine map; empty otherwise. For
  // an integer input that is its dequantisation (and any normalisation after it).
  // A TFLite converter may fold such a map into the first convolution's weights, which leaves nothing to see.
  std::optional<InputNormalisation> input_normalisation;

  // The preset the input expects: for a float input the one the graph's own normalisation expects
  // (InputNormalisation::ExpectedPreset); for an integer input the one its codes stand for
  // (ExpectedQuantisedPreset; "raw", pixel codes, when no dequantisation is seen); empty when unknown.
  std::optional<std::string> ExpectedPreset() const;
  // ExpectedPreset(), else "imagenet" for a float input and "" (none: Spec() asks for --preprocess) for an
  // integer one.
  std::string DefaultPreset() const;

  // The preprocessing for `preset` ("" = DefaultPreset()) sized to this model's input; for an integer input,
  // "raw" gives pixel codes as they are and any other preset its values quantised by the input's
  // dequantisation (InputNormalisation::Quantise). Throws UsageError when the preset contradicts the model
  // (ExpectedPreset() is another: a normalisation would be applied twice, or codes would stand for other
  // values), or when an integer input's expected preset is unknown and none is given.
  PreprocessSpec Spec(std::string_view preset) const;

  // Throws ModelError when a recorded spec (a bundle's) does not fit this model: another input size, or, for
  // an integer input, other values than Spec() gives for the recorded preset.
  void CheckSpec(const PreprocessSpec& spec) const;

  // Floats one image takes in the model's input tensor: 3 × height × width.
  std::size_t image_size() const {
    return std::size_t{3} * static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  }

  // The batch a model must be compiled for: `requested` unless the graph hard-codes its own.
  std::size_t BatchFor(std::size_t requested) const;

  // Notes for the user about choices made on the model's behalf (a fixed spatial size, batch 1), one per
  // line, to print once on stderr; empty when there are none.
  std::vector<std::string> Notes() const;
  // Notes() as lines "orchard: <note>\n", as every command prints them; "" when there are none.
  std::string NotesText() const;

  nlohmann::json ToJson() const;
};

std::string_view InputElementTypeName(InputElementType type);

}  // namespace orchard
