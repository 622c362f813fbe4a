#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace orchard {

enum class ChannelOrder { kRgb, kBgr };
enum class ResizeMethod { kBilinear, kNearest };
// Memory layout of the network's input tensor.
enum class TensorLayout { kNchw, kNhwc };

// The names PreprocessSpec::FromPreset takes, for option checks and messages.
inline constexpr std::array<std::string_view, 5> kPresetNames = {"imagenet", "caffe", "tf", "raw", "unit"};

// Everything that turns a decoded RGB image into the network's input, recorded in every output so a result
// can be reproduced. Per channel, in the order the network receives them:
//   value = (pixel * scale - mean[c]) / std[c]
struct PreprocessSpec {
  std::string preset;  // name of the preset this came from, or "custom"
  int width = 224;
  int height = 224;
  ResizeMethod resize = ResizeMethod::kBilinear;
  ChannelOrder channel_order = ChannelOrder::kRgb;
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};

  // "imagenet": RGB, [0,1], ImageNet mean/std (torchvision, ONNX model zoo).
  // "caffe": BGR, 0-255 minus ImageNet BGR means (Keras ResNet50).
  // "tf": RGB, [-1,1] (Keras MobileNet, TFLite float models).
  // "raw": RGB, the pixel values 0-255 as they are (uint8-quantised models; ModelContract shifts them by
  // -128 for an int8 input, and models whose graph normalises 0-255 pixels itself).
  // "unit": RGB, [0,1], nothing else (torchvision's ToTensor alone: models whose graph applies the mean and
  // std itself).
  // Throws UsageError for an unknown name.
  static PreprocessSpec FromPreset(std::string_view name);

  nlohmann::json ToJson() const;
  static PreprocessSpec FromJson(const nlohmann::json& json);
};

}  // namespace orchard
