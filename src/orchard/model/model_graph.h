#pragma once

// Internal to orchard_model: turns a model file into an OpenVINO graph whose single output is the feature
// vector.

#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <openvino/core/model.hpp>
#include <openvino/frontend/manager.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/model/model_contract.h"

namespace orchard {

// How a model's quantised operators are computed: ONNX QLinearConv / QLinearAdd, QuantizeLinear /
// DequantizeLinear pairs (QDQ) and a TFLite file's quantised tensors, the last two as FakeQuantize ops.
enum class QuantisedOps {
  // Float arithmetic on every CPU: QLinear ops as float ops on the integer codes that reproduce the ONNX
  // spec's integer arithmetic exactly, each FakeQuantize as its definition's float arithmetic
  // (ComputeQuantisationInFloat), integer weights dequantised into f32 constants; the convolutions run in f32
  // (or bf16).
  kExact,
  // QLinearConv in the QDQ form OpenVINO writes for QuantizeLinear/DequantizeLinear (dequantising
  // Convert/Subtract/Multiply, then FakeQuantize), and FakeQuantize ops kept, which the CPU plugin's
  // low-precision transformations fuse into int8 kernels; their requantisation then rounds as those kernels
  // do, not as the spec says. The adds stay exact.
  kInt8Kernels,
};

// The height and width a dynamic image input is fixed at.
inline constexpr int kDefaultSide = 224;

// A model file opened through OpenVINO's frontend API. The frontend library must stay loaded while graphs it
// made are alive, so whoever owns the graph keeps this too.
struct ModelSource {
  std::filesystem::path path;
  ov::frontend::FrontEndManager manager;
  ov::frontend::FrontEnd::Ptr frontend;
  bool spatial_size_fixed = false;  // the file's input height/width are dynamic; Load() fixes them at 224
  QuantisedOps quantised_ops = QuantisedOps::kExact;

  // ModelError if missing or not ONNX/TFLite.
  static ModelSource Open(const std::filesystem::path& path,
                          QuantisedOps quantised_ops = QuantisedOps::kExact);
  // The frontend's model of the file, with the image input's dynamic height and width (if any) fixed at
  // 224, so that the graph's shapes are known down to the pooling op.
  ov::frontend::InputModel::Ptr Load() const;
  // Channels-first for ONNX (its Conv and pooling ops are NCHW, whatever the input layout), channels-last for
  // TFLite: how a spatial tensor inside the graph is laid out when no pooling op says otherwise.
  ChannelAxis GraphChannelAxis() const;
};

// A tensor the graph can be cut at: the input of a global-average-pooling op (ONNX GlobalAveragePool /
// QLinearGlobalAveragePool, TFLite MEAN / AVERAGE_POOL_2D, or a ReduceMean / AvgPool whose window covers the
// whole map), moved off a quantised tensor to its float (dequantised) twin when the graph has one.
struct FeatureCandidate {
  std::string tensor;        // the name --feature-tensor takes
  std::string shape;         // as the graph knows it, e.g. "[?,1280,7,7]"
  std::string pool_op;       // the pooling op that reads it (friendly name)
  std::string pool_type;     // its framework op type
  ChannelAxis channel_axis;  // where the pool found the channels: the other non-batch axes are averaged
  // The pool's vector flows back into a spatial map, as a squeeze-and-excitation block's (Hu et al., 2018)
  // re-weights the map it pooled: a gate inside the network, never the default feature tensor.
  bool reweights_map = false;
};

// Every candidate, shallowest first: ordered by the longest path of ops from the input to their pool, ties
// in graph order. The deepest one that does not re-weight a map (nearest the main head) is the default
// feature tensor: an auxiliary head's pool is shallower, whatever order the exporter wrote the graph's
// outputs in (tf2onnx and TFLite's converter write them differently), and a squeeze-and-excitation block's is
// a gate.
std::vector<FeatureCandidate> FindFeatureCandidates(const ModelSource& source);

// A named tensor of the graph, as `describe-model --tensors` lists it: what --feature-tensor can name.
struct GraphTensor {
  std::string name;
  std::string shape;         // as the graph knows it, "[...]" when only the converted graph would
  std::string element_type;  // e.g. "f32", "u8"; "dynamic" when the frontend leaves it open
  std::string op_type;  // its producer's type as decoded: OpenVINO's when translated, else the framework's
};

// Every named tensor of the decoded graph, producers before consumers (inputs first). Throws ModelError when
// the graph cannot be decoded.
std::vector<GraphTensor> ListGraphTensors(const ModelSource& source);

// Where the cut tensor `tensor` (produced by `cut` in the converted graph) keeps its channels: as the pooling
// op that reads it says; else as the Transpose that laid it out says, found through the ops above it that
// keep its shape (tf2onnx transposes an NHWC model's output back to NHWC, so ONNX is not always
// channels-first, and may move that Transpose above a final activation such as a hard-swish); else, for a
// rank-4 map, as the framework lays out its graphs (ModelSource::GraphChannelAxis). Unknown for other ranks,
// which are then flattened.
std::optional<ChannelAxis> FeatureChannelAxis(const ModelSource& source,
                                              const std::vector<FeatureCandidate>& candidates,
                                              const std::string& tensor, const ov::Output<ov::Node>& cut);

// The per-channel affine map the graph's first ops apply to its input (Multiply, Divide, Add, Subtract by
// constants that hold one value or one per channel, or an integer constant's Convert, and FakeQuantize's
// linear part, through Transposes and Converts), composed; empty when the input's first op is no such map or
// the input feeds several ops. For an integer input that is its dequantisation. `layout` is the input's.
std::optional<InputNormalisation> FindInputNormalisation(const ov::Model& model, TensorLayout layout);

// The range [low, high] a float input's first op, a FakeQuantize reached through Transposes and Converts to
// floats, quantises (all channels together); empty when the input meets no such op first.
std::optional<std::pair<float, float>> FloatInputQuantisationRange(const ov::Model& model);

struct FeatureGraph {
  std::shared_ptr<ov::Model> model;  // one f32 input [B, 3, H, W] or [B, H, W, 3]; one f32 output [B, dim]
  ModelContract contract;            // B is dynamic when contract.batch_follows_input, else file_batch
};

// Computes the quantisation of `model` in float: every FakeQuantize becomes the arithmetic of its definition
// (clamp, scale, round half to even, scale back), so that no int8 kernel computes it, and integer weights are
// dequantised once into f32 constants (quantisation_in_float.cpp says why).
void ComputeQuantisationInFloat(const std::shared_ptr<ov::Model>& model);

// Translators for ONNX ops that this OpenVINO release converts wrongly (see onnx_qlinear_ops.cpp), in the
// form `quantised_ops` asks for. Must be added before the frontend loads a model.
void AddOnnxWorkarounds(ov::frontend::FrontEnd& frontend, QuantisedOps quantised_ops);

// rt_info key on the Convert that ends a translated QLinear op's exact form (codes = Convert(clamp(round(..)
// + zero point))): a std::vector<float> {scale, zero_point} of its per-tensor output quantisation, so that a
// feature tensor cut there is dequantised, (code - zero_point) * scale, rather than read as raw codes.
// BuildFeatureGraph removes it from every node once the graph is built.
inline constexpr const char* kCodesQuantisationKey = "orchard_codes_quantisation";

// The framework's op type for a framework node (an op the frontend left untranslated), else the OpenVINO
// type.
std::string OpType(const ov::Node& node);

// The message of an OpenVINO exception without its source-location preamble, for a one-line error.
std::string ShortReason(const std::exception& error);
[[noreturn]] void ThrowModelError(const std::filesystem::path& path, const std::string& reason);

// Why an image input of shape `shape` (static rank) is not one orchard takes, a batch of 3-channel images
// [N,3,H,W] or [N,H,W,3]; empty when it is: no batch axis, a channel count other than 3, or one left
// symbolic.
std::string InputShapeProblem(const ov::PartialShape& shape);

// Cuts the model at `feature_tensor` (or the last FindFeatureCandidates when empty), averages a spatial
// output over its own spatial axes, makes the batch dimension dynamic (or keeps the one a graph hard-codes)
// and the input f32. Throws ModelError naming the path, also when no feature tensor is named and no pooling
// op is found: the model's output would then be its logits, which are not features.
FeatureGraph BuildFeatureGraph(const ModelSource& source, const std::string& feature_tensor);

}  // namespace orchard
