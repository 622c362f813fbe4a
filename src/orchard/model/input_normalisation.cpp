// How a graph normalises its own input: the per-channel affine map its first ops apply (see
// FindInputNormalisation in model_graph.h).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <map>
#include <openvino/op/add.hpp>
#include <openvino/op/concat.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/divide.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/multiply.hpp>
#include <openvino/op/reshape.hpp>
#include <openvino/op/reverse.hpp>
#include <openvino/op/shape_of.hpp>
#include <openvino/op/slice.hpp>
#include <openvino/op/squeeze.hpp>
#include <openvino/op/strided_slice.hpp>
#include <openvino/op/subtract.hpp>
#include <openvino/op/transpose.hpp>
#include <openvino/op/unsqueeze.hpp>
#include <openvino/op/util/gather_base.hpp>
#include <optional>
#include <vector>

#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

// The one consumer of `output` that uses its values; nullptr when there are several (the raw input then
// reaches more than one op, and no single map says what the network sees). ShapeOf reads only the shape.
ov::Node* OnlyValueConsumer(const ov::Output<ov::Node>& output) {
  ov::Node* consumer = nullptr;
  for (const auto& input : output.get_target_inputs()) {
    ov::Node* node = input.get_node();
    if (ov::is_type<ov::op::v0::ShapeOf>(node) || ov::is_type<ov::op::v3::ShapeOf>(node)) continue;
    if (consumer != nullptr) return nullptr;
    consumer = node;
  }
  return consumer;
}

// A constant operand as three per-channel values, when it broadcasts against a rank-`rank` tensor with
// its channels at `channel_axis` as one value per channel or one for all: shape [] or [1], or all ones but
// a 3 at the channel axis (numpy broadcasting aligns shapes on the right).
std::optional<std::array<float, 3>> PerChannel(const ov::Output<ov::Node>& operand, std::size_t rank,
                                               std::size_t channel_axis) {
  // ONNX DequantizeLinear as OpenVINO reads it: an integer zero point is a Convert of an integer constant,
  // and a per-channel scale or zero point is Reshaped to broadcast; neither changes the values or their
  // order.
  auto node = operand.get_node_shared_ptr();
  while (ov::is_type<ov::op::v0::Convert>(node) || ov::is_type<ov::op::v1::Reshape>(node) ||
         ov::is_type<ov::op::v0::Unsqueeze>(node) || ov::is_type<ov::op::v0::Squeeze>(node))
    node = node->get_input_node_shared_ptr(0);
  const auto constant = ov::as_type_ptr<ov::op::v0::Constant>(node);
  if (constant == nullptr || constant->get_element_type() == ov::element::boolean ||
      operand.get_partial_shape().is_dynamic())
    return std::nullopt;
  const ov::Shape shape = operand.get_shape();
  const std::vector<float> values = constant->cast_vector<float>();
  if (values.size() == 1) return std::array<float, 3>{values[0], values[0], values[0]};
  if (values.size() != 3 || shape.size() > rank) return std::nullopt;
  const std::size_t first = rank - shape.size();  // the rank-`rank` axis the constant's first dim aligns with
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] != (first + d == channel_axis ? 3 : 1)) return std::nullopt;
  }
  return std::array<float, 3>{values[0], values[1], values[2]};
}

// Where the channel axis goes through a Transpose with a constant permutation; nullopt if not constant.
std::optional<std::size_t> PermutedAxis(const ov::Node& transpose, std::size_t channel_axis) {
  const auto order = ov::as_type_ptr<ov::op::v0::Constant>(transpose.get_input_node_shared_ptr(1));
  if (order == nullptr) return std::nullopt;
  const auto perm = order->cast_vector<std::int64_t>();
  const auto at = std::find(perm.begin(), perm.end(), static_cast<std::int64_t>(channel_axis));
  if (at == perm.end()) return std::nullopt;
  return static_cast<std::size_t>(at - perm.begin());
}

// Which input channel each channel of the running tensor holds (running channel k is input channel
// order[k]): the map is kept per input channel, and a graph may reorder them (RGB -> BGR) before it
// normalises.
using ChannelSources = std::array<std::size_t, 3>;

// Composes one elementwise op, x -> op(x, c), into `map`; false when `node` is not such an op with the
// running tensor as its first operand (c - x and c / x are no normalisation an exporter writes).
bool Compose(const ov::Node& node, const ov::Output<ov::Node>& running, std::size_t rank,
             std::size_t channel_axis, const ChannelSources& order, InputNormalisation& map) {
  const bool multiply = ov::is_type<ov::op::v1::Multiply>(&node);
  const bool add = ov::is_type<ov::op::v1::Add>(&node);
  const bool first_only = ov::is_type<ov::op::v1::Divide>(&node) || ov::is_type<ov::op::v1::Subtract>(&node);
  if (!multiply && !add && !first_only) return false;
  const bool running_first = node.input_value(0) == running;
  if (first_only && !running_first) return false;
  const auto c = PerChannel(node.input_value(running_first ? 1 : 0), rank, channel_axis);
  if (!c) return false;
  if (ov::is_type<ov::op::v1::Divide>(&node) && std::ranges::any_of(*c, [](float v) { return v == 0.0f; })) {
    return false;
  }
  for (std::size_t k = 0; k < 3; ++k) {
    const std::size_t channel = order[k];
    if (multiply || ov::is_type<ov::op::v1::Divide>(&node)) {
      const float factor = multiply ? (*c)[k] : 1.0f / (*c)[k];
      map.scale[channel] *= factor;
      map.offset[channel] *= factor;
    } else {
      map.offset[channel] += add ? (*c)[k] : -(*c)[k];
    }
  }
  return true;
}

// Composes a FakeQuantize with constant ranges, x -> out_low + (x - in_low) * (out_high - out_low) /
// (in_high - in_low) inside its input range: how OpenVINO's TFLite frontend dequantises an integer input.
bool ComposeFakeQuantize(const ov::Node& node, const ov::Output<ov::Node>& running, std::size_t rank,
                         std::size_t channel_axis, const ChannelSources& order, InputNormalisation& map) {
  if (!ov::is_type<ov::op::v0::FakeQuantize>(&node) || node.input_value(0) != running) return false;
  std::array<std::array<float, 3>, 4> ranges;  // in_low, in_high, out_low, out_high
  for (std::size_t i = 0; i < 4; ++i) {
    const auto values = PerChannel(node.input_value(i + 1), rank, channel_axis);
    if (!values) return false;
    ranges[i] = *values;
  }
  for (std::size_t k = 0; k < 3; ++k) {
    const float in_width = ranges[1][k] - ranges[0][k];
    if (in_width == 0.0f) return false;
    const float factor = (ranges[3][k] - ranges[2][k]) / in_width;
    const std::size_t channel = order[k];
    map.scale[channel] *= factor;
    map.offset[channel] = (map.offset[channel] - ranges[0][k]) * factor + ranges[2][k];
  }
  return true;
}

// `node` folded to a constant with its inputs `inputs` (constants); nullptr when it does not fold.
std::shared_ptr<ov::op::v0::Constant> Fold(const ov::Node& node, const ov::OutputVector& inputs) {
  try {
    const auto clone = node.clone_with_new_inputs(inputs);
    ov::OutputVector folded(clone->get_output_size());
    if (!clone->constant_fold(folded, clone->input_values())) return nullptr;
    return ov::as_type_ptr<ov::op::v0::Constant>(folded.at(0).get_node_shared_ptr());
  } catch (const ov::Exception&) {
    return nullptr;
  }
}

// `output` as a constant: a Constant, or an op of constants folded (an ONNX Slice's steps come as a Broadcast
// of one); nullptr otherwise. `depth` bounds the ops folded on the way.
std::shared_ptr<ov::op::v0::Constant> ConstantOf(const ov::Output<ov::Node>& output, int depth = 3) {
  const auto node = output.get_node_shared_ptr();
  if (const auto constant = ov::as_type_ptr<ov::op::v0::Constant>(node)) return constant;
  if (depth == 0 || node->get_output_size() != 1 || node->get_input_size() == 0) return nullptr;
  ov::OutputVector inputs;
  for (const auto& input : node->input_values()) {
    const auto constant = ConstantOf(input, depth - 1);
    if (constant == nullptr) return nullptr;
    inputs.push_back(constant->output(0));
  }
  return Fold(*node, inputs);
}

// `node`'s inputs with input `index` replaced by `value`, the others as constants; nothing when one is not.
std::optional<ov::OutputVector> WithInput(const ov::Node& node, std::size_t index,
                                          const ov::Output<ov::Node>& value) {
  ov::OutputVector inputs = node.input_values();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i == index) continue;
    const auto constant = ConstantOf(inputs[i]);
    if (constant == nullptr) return std::nullopt;
    inputs[i] = constant->output(0);
  }
  inputs[index] = value;
  return inputs;
}

bool MovesData(const ov::Node& node) {
  return ov::is_type<ov::op::v8::Slice>(&node) || ov::is_type<ov::op::v1::StridedSlice>(&node) ||
         ov::is_type<ov::op::v1::Transpose>(&node) || ov::is_type<ov::op::v0::Unsqueeze>(&node) ||
         ov::is_type<ov::op::v0::Squeeze>(&node) || ov::is_type<ov::op::v1::Reshape>(&node);
}

struct ChannelMove {
  ov::Output<ov::Node> output;
  ChannelSources order;
  std::size_t channel_axis;
};

// A tensor shaped like `running` (a dynamic dimension as 1) whose every element is its index along
// `channel_axis` (0, 1 or 2); nothing when that axis does not hold 3 channels.
std::optional<ov::Output<ov::Node>> ChannelProbe(const ov::Output<ov::Node>& running,
                                                 std::size_t channel_axis) {
  ov::Shape shape;
  for (const auto& dim : running.get_partial_shape()) shape.push_back(dim.is_static() ? dim.get_length() : 1);
  if (shape.size() != 4 || shape[channel_axis] != 3) return std::nullopt;
  const std::size_t stride =
      ov::shape_size(shape) / ov::shape_size(ov::Shape(shape.begin(), shape.begin() + channel_axis + 1));
  std::vector<float> indices(ov::shape_size(shape));
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<float>((i / stride) % 3);
  return ov::op::v0::Constant::create(running.get_element_type(), shape, indices)->output(0);
}

// The Concat where the chains of data movement from `running` through `consumers` meet, folded with each
// chain's value on `probe`; nullptr when they do not all end at one Concat whose inputs they all are.
std::shared_ptr<ov::op::v0::Constant> FoldBranches(const ov::Output<ov::Node>& running,
                                                   const std::vector<ov::Node*>& consumers,
                                                   const ov::Output<ov::Node>& probe, ov::Node*& concat) {
  std::map<ov::Node*, ov::Output<ov::Node>> folded_ends;  // a chain's last op -> its folded value
  concat = nullptr;
  for (ov::Node* node : consumers) {
    ov::Output<ov::Node> value = probe;
    ov::Output<ov::Node> at = running;
    while (node != nullptr && MovesData(*node)) {
      const auto inputs = WithInput(*node, 0, value);
      if (!inputs || node->input_value(0) != at) return nullptr;
      const auto constant = Fold(*node, *inputs);
      if (constant == nullptr) return nullptr;
      value = constant->output(0);
      at = node->output(0);
      node = OnlyValueConsumer(at);
    }
    if (node == nullptr || !ov::is_type<ov::op::v0::Concat>(node) || (concat != nullptr && node != concat))
      return nullptr;
    concat = node;
    folded_ends[at.get_node()] = value;
  }
  ov::OutputVector inputs = concat->input_values();
  if (inputs.size() != consumers.size()) return nullptr;
  for (auto& input : inputs) {
    const auto found = folded_ends.find(input.get_node());
    if (found == folded_ends.end()) return nullptr;
    input = found->second;
  }
  return Fold(*concat, inputs);
}

// The channel order of a probe moved to `moved` with its channels along `axis`: every element must be its
// channel's probe value, and the three a permutation. `order` maps the probe's channels to the input's.
std::optional<ChannelSources> MovedOrder(const ov::op::v0::Constant& moved, std::size_t axis,
                                         const ChannelSources& order) {
  const auto& shape = moved.get_shape();
  if (shape.size() != 4 || axis >= 4 || shape[axis] != 3) return std::nullopt;
  const auto values = moved.cast_vector<float>();
  const std::size_t stride =
      ov::shape_size(shape) / ov::shape_size(ov::Shape(shape.begin(), shape.begin() + axis + 1));
  ChannelSources moved_order{};
  std::array<bool, 3> seen{};
  for (std::size_t k = 0; k < 3; ++k) {
    const float source = values[k * stride];
    if (source != 0.0f && source != 1.0f && source != 2.0f) return std::nullopt;
    const auto index = static_cast<std::size_t>(source);
    if (seen[index]) return std::nullopt;
    seen[index] = true;
    moved_order[k] = order[index];
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] != values[((i / stride) % 3) * stride]) return std::nullopt;
  }
  return moved_order;
}

// The running tensor after a block of ops that only reorders its channels, and the new order and channel
// axis: a Gather of the channels (ONNX: Gather(x, [2, 1, 0], axis=1)) or one reversing Slice, or the channels
// sliced apart and
// concatenated again (Keras' preprocess_input "caffe", x[..., ::-1], as tf2onnx writes it: three Slices and
// a Concat; as a TFLite file: three StridedSlices, a PACK). The block is folded on a probe holding each
// channel's index, so any such ops are read by OpenVINO's own evaluation, not by reading their attributes.
std::optional<ChannelMove> FollowChannelMove(const ov::Output<ov::Node>& running, std::size_t channel_axis,
                                             const ChannelSources& order) {
  std::vector<ov::Node*> consumers;
  for (const auto& input : running.get_target_inputs()) {
    ov::Node* node = input.get_node();
    if (!ov::is_type<ov::op::v0::ShapeOf>(node) && !ov::is_type<ov::op::v3::ShapeOf>(node))
      consumers.push_back(node);
  }
  // One op that may reorder the channels by itself: a Gather, or a reversing Slice (tf.keras 2's x[...,
  // ::-1], torch's x.flip(1): one Slice or STRIDED_SLICE with step -1), or Reverse.
  const bool single =
      consumers.size() == 1 &&
      (ov::is_type<ov::op::util::GatherBase>(consumers[0]) || ov::is_type<ov::op::v8::Slice>(consumers[0]) ||
       ov::is_type<ov::op::v1::StridedSlice>(consumers[0]) || ov::is_type<ov::op::v1::Reverse>(consumers[0]));
  if (!single && consumers.size() < 2) return std::nullopt;  // the usual case: no probe made
  const auto probe = ChannelProbe(running, channel_axis);
  if (!probe) return std::nullopt;
  ov::Node* end = single ? consumers[0] : nullptr;
  std::shared_ptr<ov::op::v0::Constant> moved;
  std::size_t axis = channel_axis;
  if (single) {
    const auto inputs = WithInput(*end, 0, *probe);
    if (inputs) moved = Fold(*end, *inputs);
  } else {
    moved = FoldBranches(running, consumers, *probe, end);
    if (moved != nullptr) {
      const auto concat_axis = ov::as_type<ov::op::v0::Concat>(end)->get_axis();
      axis = static_cast<std::size_t>(concat_axis < 0 ? concat_axis + 4 : concat_axis);
    }
  }
  if (moved == nullptr) return std::nullopt;
  const auto moved_order = MovedOrder(*moved, axis, order);
  if (!moved_order) return std::nullopt;
  return ChannelMove{end->output(0), *moved_order, axis};
}

}  // namespace

std::optional<std::pair<float, float>> FloatInputQuantisationRange(const ov::Model& model) {
  ov::Output<ov::Node> running = model.get_parameters().at(0)->output(0);
  if (!running.get_element_type().is_real()) return std::nullopt;
  while (ov::Node* node = OnlyValueConsumer(running)) {
    if (ov::is_type<ov::op::v0::FakeQuantize>(node)) {
      const auto low = ConstantOf(node->input_value(1));
      const auto high = ConstantOf(node->input_value(2));
      if (low == nullptr || high == nullptr) return std::nullopt;
      const auto lows = low->cast_vector<float>();
      const auto highs = high->cast_vector<float>();
      const std::pair range{*std::ranges::min_element(lows), *std::ranges::max_element(highs)};
      // Symmetric int8 codes (zero point 0, onnxruntime's ActivationSymmetric) span [-m, m] whatever the
      // sign of the values calibrated: the range bounds |x| only, and unit pixels in 0..1 read as tf's [-1,
      // 1] (newcomer: cosine 0.74). No preset is told from it then.
      const ov::Node* next = OnlyValueConsumer(node->output(0));
      const bool to_int8 = next != nullptr && ov::is_type<ov::op::v0::Convert>(next) &&
                           next->get_output_element_type(0) == ov::element::i8;
      if (to_int8 && std::abs(range.first + range.second) <= 0.01f * (range.second - range.first))
        return std::nullopt;
      return range;
    }
    const bool moves = ov::is_type<ov::op::v1::Transpose>(node) ||
                       (ov::is_type<ov::op::v0::Convert>(node) && node->get_output_element_type(0).is_real());
    if (!moves) return std::nullopt;
    running = node->output(0);
  }
  return std::nullopt;
}

std::optional<InputNormalisation> FindInputNormalisation(const ov::Model& model, TensorLayout layout) {
  InputNormalisation map;
  bool found = false;
  ov::Output<ov::Node> running = model.get_parameters().at(0)->output(0);
  // An integer input's FakeQuantize is its dequantisation; a float input's (an ONNX QuantizeLinear, a QDQ
  // model's) quantises it, and its dequantisation follows: the two cancel, and the map stops there.
  const bool integer_input = running.get_element_type().is_integral();
  std::size_t channel_axis = layout == TensorLayout::kNchw ? 1 : 3;
  ChannelSources order{0, 1, 2};
  constexpr std::size_t kRank = 4;
  while (true) {
    if (const auto move = FollowChannelMove(running, channel_axis, order)) {
      running = move->output;
      channel_axis = move->channel_axis;
      order = move->order;
      continue;
    }
    ov::Node* node = OnlyValueConsumer(running);
    if (node == nullptr) break;
    if (ov::is_type<ov::op::v1::Transpose>(node)) {
      const auto moved = PermutedAxis(*node, channel_axis);
      if (!moved) break;
      channel_axis = *moved;
    } else if (ov::is_type<ov::op::v0::Convert>(node)) {
      // To an integer type only on an integer input's way: requantised (tf2onnx's uint8 -> int8), its codes
      // made whole by the FakeQuantize before, and the dequantisation after continues the map.
      if (!integer_input && !node->get_output_element_type(0).is_real()) break;
    } else if (Compose(*node, running, kRank, channel_axis, order, map) ||
               (integer_input && ComposeFakeQuantize(*node, running, kRank, channel_axis, order, map))) {
      found = true;
    } else {
      break;
    }
    running = node->output(0);
  }
  if (!found) return std::nullopt;
  return map;
}

}  // namespace orchard
