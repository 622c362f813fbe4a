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
  kUint8,  // raw pixel values 0..255 (uint8-quantised TFLite: the quantisation is inside the graph)
  kInt8,   // raw pixel values shifted to -128..127 (int8-quantised TFLite)
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
};

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
  // What the graph's first ops do to a float input, when they are a per-channel affine map; empty otherwise
  // (and for an integer input, whose first ops are its dequantisation).
  // A TFLite converter may fold such a map into the first convolution's weights, which leaves nothing to see.
  std::optional<InputNormalisation> input_normalisation;

  // "raw" for an integer input; the preset the graph's own normalisation expects
  // (input_normalisation->ExpectedPreset()); else "imagenet".
  std::string DefaultPreset() const;

  // The preprocessing for `preset` ("" = DefaultPreset()) sized to this model's input. Throws UsageError when
  // the preset contradicts the model: a uint8/int8 input takes only "raw" (normalised floats would be cast to
  // integers and every image would collapse onto nearly one vector), and a graph that normalises its pixels
  // itself takes only the preset it expects (a preset's normalisation would be applied twice).
  PreprocessSpec Spec(std::string_view preset) const;

  // Throws ModelError when a recorded spec (a bundle's) does not fit this model: another input size, or a
  // normalisation other than raw pixels for an integer input.
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
