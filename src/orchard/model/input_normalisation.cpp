// How a graph normalises its own input: the per-channel affine map its first ops apply (see
// FindInputNormalisation in model_graph.h).

#include <algorithm>
#include <array>
#include <cstddef>
#include <openvino/op/add.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/divide.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/multiply.hpp>
#include <openvino/op/reshape.hpp>
#include <openvino/op/shape_of.hpp>
#include <openvino/op/squeeze.hpp>
#include <openvino/op/subtract.hpp>
#include <openvino/op/transpose.hpp>
#include <openvino/op/unsqueeze.hpp>
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

// Composes one elementwise op, x -> op(x, c), into `map`; false when `node` is not such an op with the
// running tensor as its first operand (c - x and c / x are no normalisation an exporter writes).
bool Compose(const ov::Node& node, const ov::Output<ov::Node>& running, std::size_t rank,
             std::size_t channel_axis, InputNormalisation& map) {
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
    if (multiply || ov::is_type<ov::op::v1::Divide>(&node)) {
      const float factor = multiply ? (*c)[k] : 1.0f / (*c)[k];
      map.scale[k] *= factor;
      map.offset[k] *= factor;
    } else {
      map.offset[k] += add ? (*c)[k] : -(*c)[k];
    }
  }
  return true;
}

// Composes a FakeQuantize with constant ranges, x -> out_low + (x - in_low) * (out_high - out_low) /
// (in_high - in_low) inside its input range: how OpenVINO's TFLite frontend dequantises an integer input.
bool ComposeFakeQuantize(const ov::Node& node, const ov::Output<ov::Node>& running, std::size_t rank,
                         std::size_t channel_axis, InputNormalisation& map) {
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
    map.scale[k] *= factor;
    map.offset[k] = (map.offset[k] - ranges[0][k]) * factor + ranges[2][k];
  }
  return true;
}

}  // namespace

std::optional<InputNormalisation> FindInputNormalisation(const ov::Model& model, TensorLayout layout) {
  InputNormalisation map;
  bool found = false;
  ov::Output<ov::Node> running = model.get_parameters().at(0)->output(0);
  // An integer input's FakeQuantize is its dequantisation; a float input's (an ONNX QuantizeLinear, a QDQ
  // model's) quantises it, and its dequantisation follows: the two cancel, and the map stops there.
  const bool integer_input = running.get_element_type().is_integral();
  std::size_t channel_axis = layout == TensorLayout::kNchw ? 1 : 3;
  constexpr std::size_t kRank = 4;
  while (ov::Node* node = OnlyValueConsumer(running)) {
    if (ov::is_type<ov::op::v1::Transpose>(node)) {
      const auto moved = PermutedAxis(*node, channel_axis);
      if (!moved) break;
      channel_axis = *moved;
    } else if (ov::is_type<ov::op::v0::Convert>(node)) {
      // To an integer type only on an integer input's way: requantised (tf2onnx's uint8 -> int8), its codes
      // made whole by the FakeQuantize before, and the dequantisation after continues the map.
      if (!integer_input && !node->get_output_element_type(0).is_real()) break;
    } else if (Compose(*node, running, kRank, channel_axis, map) ||
               (integer_input && ComposeFakeQuantize(*node, running, kRank, channel_axis, map))) {
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
