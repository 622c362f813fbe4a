// Finds the default feature tensor on the frontend's *decoded* graph rather than the converted one, because:
//  - decode() works even when conversion cannot: ops the frontend cannot translate (mobilenetv2-12-int8's
//    com.microsoft.QLinearGlobalAveragePool) stay as framework nodes that still tell their op type;
//  - it keeps the framework's tensor names, which are what get_place_by_tensor_name() takes. A converted
//  graph
//    has been through transformations (TFLite's transpose sinking, for one) that drop names around the pool.
// Decoded nodes are either OpenVINO ops (the ONNX frontend translates what it can) or framework nodes with
// the original op type; shapes may be unknown on framework nodes, so those are asked of the InputModel.

#include <algorithm>
#include <array>
#include <cstdint>
#include <openvino/core/except.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/result.hpp>
#include <openvino/op/transpose.hpp>
#include <openvino/op/util/framework_node.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

using ov::frontend::InputModel;

bool IsOneOf(std::string_view type, std::initializer_list<std::string_view> types) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

const std::string* AnyName(const ov::Output<ov::Node>& output) {
  const auto& names = output.get_names();
  return names.empty() ? nullptr : &*names.begin();
}

bool IsFloat(const ov::Output<ov::Node>& output) {
  const auto type = output.get_element_type();
  return type.is_static() && type.is_real();
}

// Shape of a tensor as the graph knows it, else as the file declares it (TFLite tensors carry static shapes).
ov::PartialShape ShapeOf(const InputModel& input_model, const ov::Output<ov::Node>& output) {
  if (output.get_partial_shape().rank().is_static() || AnyName(output) == nullptr) {
    return output.get_partial_shape();
  }
  try {
    if (auto place = input_model.get_place_by_tensor_name(*AnyName(output))) {
      return input_model.get_partial_shape(place);
    }
  } catch (
      const ov::Exception&) {  // not every frontend answers shape questions; the caller then skips the op
  }
  return ov::PartialShape::dynamic();
}

// Static sizes of every dimension but the batch; empty if any is unknown.
std::vector<std::int64_t> PerSampleDims(const ov::PartialShape& shape) {
  if (shape.rank().is_dynamic() || shape.size() < 2) return {};
  std::vector<std::int64_t> dims;
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (shape[i].is_dynamic()) return {};
    dims.push_back(shape[i].get_length());
  }
  return dims;
}

std::int64_t Product(std::span<const std::int64_t> dims) {
  std::int64_t product = 1;
  for (auto d : dims) product *= d;
  return product;
}

// A pool is global when a map of rank >= 3 comes out as one value per channel; where the channels were
// (first or last after the batch) tells the map's layout.
std::optional<ChannelAxis> WholeMapChannels(const ov::PartialShape& in, const ov::PartialShape& out,
                                            ChannelAxis graph_axis) {
  const auto in_dims = PerSampleDims(in);
  const auto out_dims = PerSampleDims(out);
  if (in_dims.size() < 2 || out_dims.empty()) return std::nullopt;
  const std::int64_t per_sample = Product(out_dims);
  // One value per image is a statistic, not a pool of channels: the mean of a LayerNorm over the channels of
  // a pooled [N,1,1,C] (ConvNeXt's head as torch.onnx exports it below opset 17) would else pass for a pool
  // whose "channels" are the size-1 axis, and give 1-d features.
  if (per_sample < 2) return std::nullopt;
  const std::span<const std::int64_t> dims(in_dims);
  const bool first = per_sample == dims.front() && Product(dims.subspan(1)) > 1;
  const bool last = per_sample == dims.back() && Product(dims.first(dims.size() - 1)) > 1;
  if (first && last) return graph_axis;  // e.g. [N,7,7,7]: the graph's convention decides
  if (first) return ChannelAxis::kFirst;
  if (last) return ChannelAxis::kLast;
  return std::nullopt;
}

// A mean over both spatial axes of a rank-4 map, told by its constant axes when the map's height and width
// are unknown: a TFLite model with a dynamic height and width declares its tensors' sizes as -1, and its
// decoded ops do not infer shapes from the input's fixed 224x224.
std::optional<ChannelAxis> SpatialMeanChannels(ov::Node& node, const ov::PartialShape& in) {
  if (node.get_input_size() < 2 || in.rank().is_dynamic() || in.size() != 4) return std::nullopt;
  const auto axes = ov::as_type_ptr<ov::op::v0::Constant>(node.get_input_node_shared_ptr(1));
  if (axes == nullptr) return std::nullopt;
  std::vector<std::int64_t> sorted;
  for (const auto axis : axes->cast_vector<std::int64_t>()) sorted.push_back(axis < 0 ? axis + 4 : axis);
  std::sort(sorted.begin(), sorted.end());
  if (sorted == std::vector<std::int64_t>{1, 2}) return ChannelAxis::kLast;
  if (sorted == std::vector<std::int64_t>{2, 3}) return ChannelAxis::kFirst;
  return std::nullopt;
}

std::optional<ChannelAxis> GlobalPoolChannels(const InputModel& input_model, ov::Node& node,
                                              ChannelAxis graph_axis) {
  const std::string type = OpType(node);
  // Global by definition; ONNX's pools (and OpenVINO's AvgPool translated from them) are NCHW.
  if (IsOneOf(type, {"GlobalAveragePool", "QLinearGlobalAveragePool"})) return ChannelAxis::kFirst;
  if (!IsOneOf(type, {"ReduceMean", "AvgPool", "MEAN", "AVERAGE_POOL_2D"})) return std::nullopt;
  const auto in = ShapeOf(input_model, node.input_value(0));
  if (const auto channels = WholeMapChannels(in, ShapeOf(input_model, node.output(0)), graph_axis)) {
    return channels;
  }
  return SpatialMeanChannels(node, in);
}

// Non-batch dimensions that are unknown or above 1: two or more make a spatial map ([N,C,H,W], [N,H,W,C]);
// a pooled vector kept as [N,C,1,1] or [N,1,1,C] has one.
bool IsSpatialMap(const ov::PartialShape& shape) {
  if (shape.rank().is_dynamic()) return false;
  std::size_t wide = 0;
  for (std::size_t i = 1; i < shape.size(); ++i) wide += shape[i].is_dynamic() || shape[i].get_length() > 1;
  return wide >= 2;
}

// Whether what `pool` computes flows back into a spatial map within a few ops: a squeeze-and-excitation
// block's squeeze (pool -> 1x1 convs -> sigmoid -> Multiply with the map), not a pool that feeds a head.
bool ReweightsMap(const InputModel& input_model, ov::Node& pool) {
  constexpr std::size_t kMaxNodes = 32;  // an SE block is ~10 ops from squeeze to scale
  std::vector<ov::Node*> frontier = {&pool};
  std::unordered_set<ov::Node*> seen = {&pool};
  for (std::size_t next = 0; next < frontier.size() && seen.size() < kMaxNodes; ++next) {
    for (const auto& output : frontier[next]->outputs()) {
      for (const auto& consumer : output.get_target_inputs()) {
        ov::Node* node = consumer.get_node();
        if (!seen.insert(node).second) continue;
        if (node->get_output_size() > 0 && IsSpatialMap(ShapeOf(input_model, node->output(0)))) return true;
        frontier.push_back(node);
      }
    }
  }
  return false;
}

// A consumer chain Convert(to float) -> [Subtract] -> Multiply, or a DequantizeLinear node: the float twin of
// a quantised tensor. mobilenetv2-12-int8 has one ("627") only because a Shape op reads it.
std::optional<std::string> DequantisedTwin(const ov::Output<ov::Node>& quantised) {
  for (const auto& consumer : quantised.get_target_inputs()) {
    ov::Node* node = consumer.get_node();
    if (OpType(*node) == "DequantizeLinear" && AnyName(node->output(0))) return *AnyName(node->output(0));
    if (OpType(*node) != "Convert") continue;
    for (int step = 0; step < 3; ++step) {
      const auto out = node->output(0);
      if (step > 0 && IsFloat(out) && AnyName(out)) return *AnyName(out);
      const auto next = out.get_target_inputs();
      if (next.size() != 1 || !IsOneOf(OpType(*next.begin()->get_node()), {"Subtract", "Multiply"})) break;
      node = next.begin()->get_node();
    }
  }
  return std::nullopt;
}

// The pool's input, or the nearest float tensor holding the same values: its dequantised twin, or what a
// quantise op upstream was fed.
std::string FeatureTensorOf(ov::Node& pool, const std::filesystem::path& path) {
  const auto pooled = pool.input_value(0);
  auto tensor = pooled;
  for (int hop = 0; hop < 4; ++hop) {
    if (IsFloat(tensor) && AnyName(tensor)) return *AnyName(tensor);
    if (auto twin = DequantisedTwin(tensor)) return *twin;
    const std::string producer = OpType(*tensor.get_node());
    if (!IsOneOf(producer, {"QuantizeLinear", "FakeQuantize", "QUANTIZE", "Convert"})) break;
    tensor = tensor.get_node()->input_value(0);
  }
  // A quantised tensor with no float twin (TFLite): cut there; BuildFeatureGraph dequantises the output.
  if (AnyName(pooled)) return *AnyName(pooled);
  ThrowModelError(path, "the input of pooling op '" + pool.get_friendly_name() +
                            "' has no tensor name to cut at; pass --feature-tensor");
}

}  // namespace

std::string OpType(const ov::Node& node) {
  const auto* framework = ov::as_type<const ov::op::util::FrameworkNode>(&node);
  if (framework == nullptr) return node.get_type_name();
  const auto& attrs = framework->get_attrs();
  if (!attrs.get_type_name().empty()) return attrs.get_type_name();  // TensorFlow Lite
  const auto onnx_type =
      std::find_if(attrs.begin(), attrs.end(), [](const auto& kv) { return kv.first == "ONNX_META_type"; });
  return onnx_type == attrs.end() ? node.get_type_name() : onnx_type->second;
}

namespace {

struct DecodedGraph {
  InputModel::Ptr input_model;
  std::shared_ptr<ov::Model> model;
};

DecodedGraph Decode(const ModelSource& source) {
  try {
    auto input_model = source.Load();
    auto model = source.frontend->decode(input_model);
    return {std::move(input_model), std::move(model)};
  } catch (const ov::Exception& error) {
    ThrowModelError(source.path, "cannot read the graph to find the pooled feature tensor (" +
                                     ShortReason(error) + "); pass --feature-tensor");
  }
}

}  // namespace

std::vector<GraphTensor> ListGraphTensors(const ModelSource& source) {
  const auto [input_model, decoded] = Decode(source);
  std::vector<GraphTensor> tensors;
  for (const auto& node : decoded->get_ordered_ops()) {
    if (ov::is_type<ov::op::v0::Constant>(node) || ov::is_type<ov::op::v0::Result>(node)) continue;
    for (const auto& output : node->outputs()) {
      const std::string* name = AnyName(output);
      if (name == nullptr) continue;
      tensors.push_back({*name, ShapeOf(*input_model, output).to_string(),
                         output.get_element_type().to_string(), OpType(*node)});
    }
  }
  return tensors;
}

std::vector<FeatureCandidate> FindFeatureCandidates(const ModelSource& source) {
  const auto [input_model, decoded] = Decode(source);
  std::vector<std::pair<std::size_t, FeatureCandidate>> by_depth;
  std::unordered_map<const ov::Node*, std::size_t> depth;  // longest path of ops from an input
  for (const auto& node : decoded->get_ordered_ops()) {    // producers before consumers
    std::size_t deepest_input = 0;
    for (const auto& input : node->input_values()) {
      deepest_input = std::max(deepest_input, depth[input.get_node()]);
    }
    depth[node.get()] = deepest_input + 1;
    const auto channels = GlobalPoolChannels(*input_model, *node, source.GraphChannelAxis());
    if (!channels) continue;
    by_depth.emplace_back(
        depth[node.get()],
        FeatureCandidate{FeatureTensorOf(*node, source.path),
                         ShapeOf(*input_model, node->input_value(0)).to_string(), node->get_friendly_name(),
                         OpType(*node), *channels, ReweightsMap(*input_model, *node)});
  }
  std::stable_sort(by_depth.begin(), by_depth.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<FeatureCandidate> candidates;
  for (auto& [_, candidate] : by_depth) candidates.push_back(std::move(candidate));
  return candidates;
}

namespace {

// The Transpose that laid out `tensor`: its producer, or one above it reached through ops that keep its shape
// (activations, a hard-swish's Add and Multiply, a broadcast scale); nullptr when another op decides.
std::shared_ptr<ov::op::v1::Transpose> LayingTranspose(ov::Output<ov::Node> tensor) {
  constexpr int kMaxHops = 8;
  for (int hop = 0; hop < kMaxHops; ++hop) {
    const auto node = tensor.get_node_shared_ptr();
    if (auto transpose = ov::as_type_ptr<ov::op::v1::Transpose>(node)) return transpose;
    const auto inputs = node->input_values();
    const auto same_shape =
        std::find_if(inputs.begin(), inputs.end(), [&](const ov::Output<ov::Node>& input) {
          return input.get_partial_shape() == tensor.get_partial_shape();
        });
    if (same_shape == inputs.end()) return nullptr;
    tensor = *same_shape;
  }
  return nullptr;
}

}  // namespace

std::optional<ChannelAxis> FeatureChannelAxis(const ModelSource& source,
                                              const std::vector<FeatureCandidate>& candidates,
                                              const std::string& tensor, const ov::Output<ov::Node>& cut) {
  const auto match = std::find_if(candidates.begin(), candidates.end(),
                                  [&](const FeatureCandidate& c) { return c.tensor == tensor; });
  if (match != candidates.end()) return match->channel_axis;
  const auto shape = cut.get_partial_shape();
  if (shape.rank().is_dynamic() || shape.size() != 4) return std::nullopt;
  const ChannelAxis graph_axis = source.GraphChannelAxis();
  if (const auto transpose = LayingTranspose(cut)) {
    const auto order = ov::as_type_ptr<ov::op::v0::Constant>(transpose->get_input_node_shared_ptr(1));
    if (order != nullptr) {
      // The channels enter the Transpose where the framework keeps them and leave where the order puts them.
      const auto perm = order->cast_vector<std::int64_t>();
      const std::int64_t inner = graph_axis == ChannelAxis::kFirst ? 1 : 3;
      const auto at = std::find(perm.begin(), perm.end(), inner) - perm.begin();
      if (at == 1) return ChannelAxis::kFirst;
      if (at == 3) return ChannelAxis::kLast;
    }
  }
  return graph_axis;
}

}  // namespace orchard
