#include "orchard/image/preprocess_spec.h"

#include <cmath>
#include <string>

#include "orchard/common/error.h"

namespace orchard {
namespace {

std::string_view ToString(ChannelOrder order) { return order == ChannelOrder::kRgb ? "rgb" : "bgr"; }
std::string_view ToString(ResizeMethod method) {
  return method == ResizeMethod::kBilinear ? "bilinear" : "nearest";
}

ChannelOrder ParseChannelOrder(const std::string& text) {
  if (text == "rgb") return ChannelOrder::kRgb;
  if (text == "bgr") return ChannelOrder::kBgr;
  throw UsageError("preprocess spec: channel_order must be \"rgb\" or \"bgr\", not \"" + text + "\"");
}

ResizeMethod ParseResizeMethod(const std::string& text) {
  if (text == "bilinear") return ResizeMethod::kBilinear;
  if (text == "nearest") return ResizeMethod::kNearest;
  throw UsageError("preprocess spec: resize must be \"bilinear\" or \"nearest\", not \"" + text + "\"");
}

// A spec that would divide by zero or produce an empty tensor is refused up front rather than yielding NaNs.
void Validate(const PreprocessSpec& spec) {
  if (spec.width <= 0 || spec.height <= 0) {
    throw UsageError("preprocess spec: width and height must be positive");
  }
  for (float s : spec.std) {
    if (s == 0.0f || !std::isfinite(s))
      throw UsageError("preprocess spec: std values must be finite and non-zero");
  }
}

}  // namespace

PreprocessSpec PreprocessSpec::FromPreset(std::string_view name) {
  PreprocessSpec spec;
  spec.preset = std::string(name);
  if (name == "imagenet") {
    // The struct's defaults are the imagenet preset.
  } else if (name == "caffe") {
    spec.channel_order = ChannelOrder::kBgr;
    spec.scale = 1.0f;
    spec.mean = {103.939f, 116.779f, 123.68f};  // B, G, R
    spec.std = {1.0f, 1.0f, 1.0f};
  } else if (name == "tf") {
    spec.scale = 1.0f / 127.5f;
    spec.mean = {1.0f, 1.0f, 1.0f};
    spec.std = {1.0f, 1.0f, 1.0f};
  } else if (name == "raw") {
    spec.scale = 1.0f;
    spec.mean = {0.0f, 0.0f, 0.0f};
    spec.std = {1.0f, 1.0f, 1.0f};
  } else if (name == "unit") {
    spec.scale = 1.0f / 255.0f;
    spec.mean = {0.0f, 0.0f, 0.0f};
    spec.std = {1.0f, 1.0f, 1.0f};
  } else {
    std::string valid;
    for (const auto& preset : kPresetNames) valid += (valid.empty() ? "" : ", ") + std::string(preset);
    throw UsageError("unknown preprocessing preset \"" + std::string(name) + "\" (valid: " + valid + ")");
  }
  return spec;
}

nlohmann::json PreprocessSpec::ToJson() const {
  return {{"preset", preset},
          {"width", width},
          {"height", height},
          {"resize", ToString(resize)},
          {"channel_order", ToString(channel_order)},
          {"scale", scale},
          {"mean", mean},
          {"std", std}};
}

PreprocessSpec PreprocessSpec::FromJson(const nlohmann::json& json) {
  PreprocessSpec spec;
  try {
    spec.preset = json.value("preset", std::string("custom"));
    spec.width = json.at("width").get<int>();
    spec.height = json.at("height").get<int>();
    spec.resize = ParseResizeMethod(json.at("resize").get<std::string>());
    spec.channel_order = ParseChannelOrder(json.at("channel_order").get<std::string>());
    spec.scale = json.at("scale").get<float>();
    spec.mean = json.at("mean").get<std::array<float, 3>>();
    spec.std = json.at("std").get<std::array<float, 3>>();
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("invalid preprocess spec: ") + e.what());
  }
  Validate(spec);
  return spec;
}

}  // namespace orchard
