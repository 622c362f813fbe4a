#pragma once

// Internal to orchard_model: turns a model file into an OpenVINO graph whose single output is the feature
// vector.

#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <openvino/core/model.hpp>
#include <openvino/frontend/manager.hpp>
#include <string>

#include "orchard/image/preprocess_spec.h"

namespace orchard {

// A model file opened through OpenVINO's frontend API. The frontend library must stay loaded while graphs it
// made are alive, so whoever owns the graph keeps this too.
struct ModelSource {
  std::filesystem::path path;
  ov::frontend::FrontEndManager manager;
  ov::frontend::FrontEnd::Ptr frontend;

  static ModelSource Open(const std::filesystem::path& path);  // ModelError if missing or not ONNX/TFLite
  ov::frontend::InputModel::Ptr Load() const;
};

// The tensor read as the feature vector when none is named: the input of the last global-average-pooling op
// (ONNX GlobalAveragePool / QLinearGlobalAveragePool, TFLite MEAN / AVERAGE_POOL_2D, or a ReduceMean /
// AvgPool whose window covers the whole map), moved off a quantised tensor to its float (dequantised) twin
// when the graph has one. Empty when the model has no such op: its output is then used as it is.
std::string FindDefaultFeatureTensor(const ModelSource& source);

struct FeatureGraph {
  std::shared_ptr<ov::Model> model;  // one f32 input [?, 3, H, W] or [?, H, W, 3]; one f32 output [?, dim]
  std::string feature_tensor;        // tensor the graph was cut at; empty = the model's own output
  TensorLayout layout = TensorLayout::kNchw;
  int width = 224;
  int height = 224;
  std::size_t feature_dim = 0;
  bool quantised = false;  // the model holds quantisation (FakeQuantize or integer weights being dequantised)
};

// Translators for ONNX ops that this OpenVINO release converts wrongly (see onnx_qlinear_ops.cpp). Must be
// added before the frontend loads a model.
void AddOnnxWorkarounds(ov::frontend::FrontEnd& frontend);

// The framework's op type for a framework node (an op the frontend left untranslated), else the OpenVINO
// type.
std::string OpType(const ov::Node& node);

// The message of an OpenVINO exception without its source-location preamble, for a one-line error.
std::string ShortReason(const std::exception& error);
[[noreturn]] void ThrowModelError(const std::filesystem::path& path, const std::string& reason);

// Cuts the model at `feature_tensor` (or FindDefaultFeatureTensor's choice when empty), pools a spatial
// output, makes the batch dimension dynamic and the input f32. Throws ModelError naming the path.
FeatureGraph BuildFeatureGraph(const ModelSource& source, const std::string& feature_tensor);

}  // namespace orchard
