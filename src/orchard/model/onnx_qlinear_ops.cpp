// OpenVINO 2026.4's ONNX frontend mis-translates QLinearConv with per-output-channel weight scales (it
// dequantises the weights along axis 1 and fails: "The number of dequantization scale elements '32' must
// match the input shape dimension '3'"), which is what onnxruntime's quantiser writes -- mobilenetv2-12-int8
// has 52 of them. This translator replaces it, written from the ONNX spec:
//   y = quantise(conv(dequantise(x), dequantise(w, axis 0)) + B * x_scale * w_scale, y_scale, y_zero_point)
// Quantisation is spelled out in float ops (see ToCodes for why) -- unless the run asks for int8 kernels
// (QuantisedOps::kInt8Kernels): then each op is written in the QDQ form the CPU plugin fuses.

#include <cstdint>
#include <openvino/frontend/onnx/extension/conversion.hpp>
#include <openvino/op/add.hpp>
#include <openvino/op/avg_pool.hpp>
#include <openvino/op/clamp.hpp>
#include <openvino/op/concat.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/convolution.hpp>
#include <openvino/op/divide.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/group_conv.hpp>
#include <openvino/op/multiply.hpp>
#include <openvino/op/reshape.hpp>
#include <openvino/op/round.hpp>
#include <openvino/op/subtract.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

using ov::Output;
using Ints = std::vector<std::int64_t>;

Output<ov::Node> ToF32(const Output<ov::Node>& value) {
  return std::make_shared<ov::op::v0::Convert>(value, ov::element::f32);
}

// A per-channel [C] parameter shaped to broadcast along `axis` of a rank-`rank` tensor; scalars stay as they
// are.
Output<ov::Node> AlongAxis(const Output<ov::Node>& value, std::size_t axis, std::size_t rank) {
  if (value.get_partial_shape().rank().is_static() && value.get_partial_shape().size() == 0) return value;
  Ints shape(rank, 1);
  shape[axis] = -1;
  return std::make_shared<ov::op::v1::Reshape>(
      value, ov::op::v0::Constant::create(ov::element::i64, {rank}, shape), false);
}

// q - zero_point as float: small integers, so exact.
Output<ov::Node> Centred(const Output<ov::Node>& q, const Output<ov::Node>& zero_point) {
  return std::make_shared<ov::op::v1::Subtract>(ToF32(q), ToF32(zero_point));
}

Output<ov::Node> Dequantise(const Output<ov::Node>& q, const Output<ov::Node>& scale,
                            const Output<ov::Node>& zero_point) {
  return std::make_shared<ov::op::v1::Multiply>(Centred(q, zero_point), scale);
}

// The value of a constant holding one element (a per-tensor scale or zero point), as float.
std::optional<float> ScalarOf(const Output<ov::Node>& value) {
  const auto constant = ov::as_type_ptr<ov::op::v0::Constant>(value.get_node_shared_ptr());
  if (constant == nullptr || ov::shape_size(constant->get_shape()) != 1) return std::nullopt;
  return constant->cast_vector<float>().front();
}

// The lowest and highest code of an 8-bit zero point's type (i8 or u8), as float.
std::pair<float, float> CodeRange(const ov::element::Type& type) {
  return type == ov::element::i8 ? std::pair{-128.0F, 127.0F} : std::pair{0.0F, 255.0F};
}

// `units` is the value divided by the output scale. Rounds half to even and saturates, as QuantizeLinear
// specifies. Deliberately not a FakeQuantize: the CPU plugin's low-precision transformations would then run
// the residual adds in int8 with their own rescaling, which put 20% of codes off by one after the first
// QLinearAdd (cosine 0.977 to OpenCV at the feature tensor). Float ops give the spec's result on every CPU.
// `scale` is the output's; when it and the zero point are per-tensor constants, the codes carry them
// (kCodesQuantisationKey) for a feature tensor cut here.
Output<ov::Node> ToCodes(const Output<ov::Node>& units, const Output<ov::Node>& scale,
                         const Output<ov::Node>& zero_point) {
  const auto type = zero_point.get_element_type();
  const auto [lowest, highest] = CodeRange(type);
  auto rounded = std::make_shared<ov::op::v5::Round>(units, ov::op::v5::Round::RoundMode::HALF_TO_EVEN);
  auto shifted = std::make_shared<ov::op::v1::Add>(rounded, ToF32(zero_point));
  auto saturated = std::make_shared<ov::op::v0::Clamp>(shifted, lowest, highest);
  auto codes = std::make_shared<ov::op::v0::Convert>(saturated, type);
  const auto scale_value = ScalarOf(scale);
  const auto zero_point_value = ScalarOf(zero_point);
  if (scale_value && zero_point_value) {
    codes->get_rt_info()[kCodesQuantisationKey] = std::vector<float>{*scale_value, *zero_point_value};
  }
  return codes;
}

// Codes of `value` as OpenVINO's own QuantizeLinear translation writes them: FakeQuantize over the range the
// codes can express, then Convert -- the pattern the CPU plugin's low-precision transformations fuse into the
// int8 kernel that produces `value`.
Output<ov::Node> FakeQuantisedCodes(const Output<ov::Node>& value, const Output<ov::Node>& scale,
                                    const Output<ov::Node>& zero_point) {
  const auto type = zero_point.get_element_type();
  const auto [lowest, highest] = CodeRange(type);
  const auto low = ov::op::v0::Constant::create(ov::element::f32, {1}, {lowest});
  const auto high = ov::op::v0::Constant::create(ov::element::f32, {1}, {highest});
  const auto value_of = [&](const Output<ov::Node>& code) {
    return std::make_shared<ov::op::v1::Multiply>(
        scale, std::make_shared<ov::op::v1::Subtract>(code, ToF32(zero_point)));
  };
  auto codes =
      std::make_shared<ov::op::v0::FakeQuantize>(value, value_of(low), value_of(high), low, high, 256);
  return std::make_shared<ov::op::v0::Convert>(codes, type);
}

ov::op::PadType PadTypeOf(const std::string& auto_pad) {
  if (auto_pad == "SAME_UPPER") return ov::op::PadType::SAME_UPPER;
  if (auto_pad == "SAME_LOWER") return ov::op::PadType::SAME_LOWER;
  if (auto_pad == "VALID") return ov::op::PadType::VALID;
  return ov::op::PadType::EXPLICIT;
}

Output<ov::Node> Convolve(const ov::frontend::NodeContext& node, const Output<ov::Node>& x,
                          const Output<ov::Node>& w, const ov::Shape& w_shape) {
  const std::size_t spatial = w_shape.size() - 2;
  const auto strides = node.get_attribute<Ints>("strides", Ints(spatial, 1));
  const auto dilations = node.get_attribute<Ints>("dilations", Ints(spatial, 1));
  const auto pads = node.get_attribute<Ints>("pads", Ints(2 * spatial, 0));
  const auto group = node.get_attribute<std::int64_t>("group", 1);
  const auto pad_type = PadTypeOf(node.get_attribute<std::string>("auto_pad", "NOTSET"));
  const ov::Strides s(strides.begin(), strides.end());
  const ov::Strides d(dilations.begin(), dilations.end());
  const ov::CoordinateDiff begin(pads.begin(), pads.begin() + spatial);
  const ov::CoordinateDiff end(pads.begin() + spatial, pads.end());
  if (group == 1) return std::make_shared<ov::op::v1::Convolution>(x, w, s, begin, end, d, pad_type);
  // ONNX weights [C_out, C_in/g, k...] -> OpenVINO's grouped [g, C_out/g, C_in/g, k...].
  Ints grouped{group, static_cast<std::int64_t>(w_shape[0]) / group};
  grouped.insert(grouped.end(), w_shape.begin() + 1, w_shape.end());
  auto w_grouped = std::make_shared<ov::op::v1::Reshape>(
      w, ov::op::v0::Constant::create(ov::element::i64, {grouped.size()}, grouped), false);
  return std::make_shared<ov::op::v1::GroupConvolution>(x, w_grouped, s, begin, end, d, pad_type);
}

ov::Shape StaticWeightShape(const ov::frontend::NodeContext& node) {
  const auto w = node.get_input(3);
  if (w.get_partial_shape().is_dynamic()) {
    OPENVINO_THROW("QLinearConv ", node.get_name(), ": weights must have a static shape");
  }
  return w.get_shape();
}

ov::OutputVector QLinearConv(const ov::frontend::NodeContext& node) {
  const ov::Shape w_shape = StaticWeightShape(node);
  const std::size_t rank = w_shape.size();
  // Like integer kernels: convolve the centred integer codes (float sums of integer products stay exact well
  // past these layers' sizes), add the int32 bias, then rescale once by x_scale * w_scale[c] / y_scale.
  // Dequantising first instead rounds every product, and the codes drift from other runtimes' layer by layer
  // (cosine 0.984 to OpenCV at mobilenetv2-12-int8's feature tensor).
  const auto w_centred = Centred(node.get_input(3), AlongAxis(node.get_input(5), 0, rank));
  Output<ov::Node> acc = Convolve(node, Centred(node.get_input(0), node.get_input(2)), w_centred, w_shape);
  if (node.get_input_size() > 8)
    acc = std::make_shared<ov::op::v1::Add>(acc, AlongAxis(ToF32(node.get_input(8)), 1, rank));
  // acc holds integers, so rounding it changes nothing -- except that it stops the CPU plugin from folding
  // the rescale below into the weights, which makes acc inexact and flips codes that sit near .5 (cosine 0.98
  // to OpenCV on some images without it).
  acc = std::make_shared<ov::op::v5::Round>(acc, ov::op::v5::Round::RoundMode::HALF_TO_EVEN);
  auto in_scale = std::make_shared<ov::op::v1::Multiply>(node.get_input(1), node.get_input(4));
  auto multiplier = std::make_shared<ov::op::v1::Divide>(in_scale, node.get_input(6));
  auto units = std::make_shared<ov::op::v1::Multiply>(acc, AlongAxis(multiplier, 1, rank));
  return {ToCodes(units, node.get_input(6), node.get_input(7))};
}

// QLinearConv in the QDQ form NNCF and onnxruntime's quantize_static write, which the CPU plugin runs as an
// int8 kernel: DequantizeLinear of x and of w (along axis 0), Conv with the bias dequantised at
// x_scale * w_scale[c], QuantizeLinear. The kernel requantises with the rescale folded in, so codes that sit
// near .5 round either way and the flips compound over the layers: on the default model, cosine 0.988 mean,
// 0.980 min to the spec at the feature tensor (the bf16 run of the exact form: 0.981 / 0.972). Requantising
// the kernel's f32 output exactly instead reaches 0.9994 but leaves eltwise passes unfused: 3x slower.
ov::OutputVector QLinearConvForInt8Kernels(const ov::frontend::NodeContext& node) {
  const ov::Shape w_shape = StaticWeightShape(node);
  const std::size_t rank = w_shape.size();
  const auto x_scale = node.get_input(1);
  const auto w_scale = node.get_input(4);
  const auto x = Dequantise(node.get_input(0), x_scale, node.get_input(2));
  const auto w =
      Dequantise(node.get_input(3), AlongAxis(w_scale, 0, rank), AlongAxis(node.get_input(5), 0, rank));
  Output<ov::Node> y = Convolve(node, x, w, w_shape);
  if (node.get_input_size() > 8) {
    const auto bias_scale = std::make_shared<ov::op::v1::Multiply>(x_scale, w_scale);
    const auto bias = std::make_shared<ov::op::v1::Multiply>(ToF32(node.get_input(8)), bias_scale);
    y = std::make_shared<ov::op::v1::Add>(y, AlongAxis(bias, 1, rank));
  }
  return {FakeQuantisedCodes(y, node.get_input(6), node.get_input(7))};
}

// `value`'s codes on the output quantisation `scale`, `zero_point` (ToCodes of value / scale).
Output<ov::Node> Requantised(const Output<ov::Node>& value, const Output<ov::Node>& scale,
                             const Output<ov::Node>& zero_point) {
  return ToCodes(std::make_shared<ov::op::v1::Divide>(value, scale), scale, zero_point);
}

// C = quantise(dequantise(A) op dequantise(B), C_scale, C_zero_point), numpy broadcasting: com.microsoft's
// QLinearAdd and QLinearMul (inputs A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale,
// C_zero_point). Also at int8: written exactly, they are cheap, and as a FakeQuantize the CPU plugin would
// run them in int8 with its own rescaling: cosine 0.982 instead of 0.988 to the spec for the default model's
// adds with int8 convolutions, and OpenVINO's own QLinearMul lost 0.9 % of the norm at each, which compounded
// over DenseNet121's 58 blocks (onnxruntime's quantiser writes a BatchNormalization's scale as one) to cosine
// 0.62 to onnxruntime (newcomer).
template <typename Op>
ov::OutputVector QLinearBinary(const ov::frontend::NodeContext& node) {
  const auto a = Dequantise(node.get_input(0), node.get_input(1), node.get_input(2));
  const auto b = Dequantise(node.get_input(3), node.get_input(4), node.get_input(5));
  return {Requantised(std::make_shared<Op>(a, b), node.get_input(6), node.get_input(7))};
}

// Y = quantise(concat(dequantise(X_i)), Y_scale, Y_zero_point) along `axis` (com.microsoft.QLinearConcat:
// inputs Y_scale, Y_zero_point, then X_i, X_i_scale, X_i_zero_point for each X_i), exact for the same reason,
// and its codes carry their quantisation, so a pool cut after it can dequantise them.
ov::OutputVector QLinearConcat(const ov::frontend::NodeContext& node) {
  const auto inputs = node.get_input_size();
  if (inputs < 5 || (inputs - 2) % 3 != 0)
    OPENVINO_THROW("QLinearConcat ", node.get_name(),
                   ": expected Y_scale, Y_zero_point and (X, scale, zero "
                   "point) triples, got ",
                   inputs, " inputs");
  ov::OutputVector parts;
  for (std::size_t i = 2; i < inputs; i += 3)
    parts.push_back(Dequantise(node.get_input(static_cast<int>(i)), node.get_input(static_cast<int>(i + 1)),
                               node.get_input(static_cast<int>(i + 2))));
  auto joined = std::make_shared<ov::op::v0::Concat>(parts, node.get_attribute<std::int64_t>("axis"));
  return {Requantised(joined, node.get_input(0), node.get_input(1))};
}

// Y = quantise(AveragePool(dequantise(X)), Y_scale, Y_zero_point) (com.microsoft.QLinearAveragePool, NCHW
// only: channels_last = 1 is refused): DenseNet's transition layers, as onnxruntime's quantiser writes them.
ov::OutputVector QLinearAveragePool(const ov::frontend::NodeContext& node) {
  if (node.get_attribute<std::int64_t>("channels_last", 0) != 0)
    OPENVINO_THROW("QLinearAveragePool ", node.get_name(), ": channels_last = 1 is not supported");
  const auto kernel = node.get_attribute<Ints>("kernel_shape");
  const std::size_t spatial = kernel.size();
  const auto strides = node.get_attribute<Ints>("strides", Ints(spatial, 1));
  const auto pads = node.get_attribute<Ints>("pads", Ints(2 * spatial, 0));
  const auto x = Dequantise(node.get_input(0), node.get_input(1), node.get_input(2));
  // ONNX's ceil_mode drops a last window that would start in the right padding, as torch does: OpenVINO's
  // CEIL_TORCH, not CEIL (a map one column wider than onnxruntime's, fourth newcomer).
  auto pooled = std::make_shared<ov::op::v14::AvgPool>(
      x, ov::Strides(strides.begin(), strides.end()), ov::Shape(pads.begin(), pads.begin() + spatial),
      ov::Shape(pads.begin() + spatial, pads.end()), ov::Shape(kernel.begin(), kernel.end()),
      /*exclude_pad=*/node.get_attribute<std::int64_t>("count_include_pad", 0) == 0,
      node.get_attribute<std::int64_t>("ceil_mode", 0) != 0 ? ov::op::RoundingType::CEIL_TORCH
                                                            : ov::op::RoundingType::FLOOR,
      PadTypeOf(node.get_attribute<std::string>("auto_pad", "NOTSET")));
  return {Requantised(pooled, node.get_input(3), node.get_input(4))};
}

}  // namespace

void AddOnnxWorkarounds(ov::frontend::FrontEnd& frontend, QuantisedOps quantised_ops) {
  using ov::frontend::onnx::ConversionExtension;
  const bool int8 = quantised_ops == QuantisedOps::kInt8Kernels;
  frontend.add_extension(
      std::make_shared<ConversionExtension>("QLinearConv", int8 ? QLinearConvForInt8Kernels : QLinearConv));
  frontend.add_extension(
      std::make_shared<ConversionExtension>("QLinearAdd", "com.microsoft", QLinearBinary<ov::op::v1::Add>));
  frontend.add_extension(std::make_shared<ConversionExtension>("QLinearMul", "com.microsoft",
                                                               QLinearBinary<ov::op::v1::Multiply>));
  frontend.add_extension(
      std::make_shared<ConversionExtension>("QLinearConcat", "com.microsoft", QLinearConcat));
  frontend.add_extension(
      std::make_shared<ConversionExtension>("QLinearAveragePool", "com.microsoft", QLinearAveragePool));
}

}  // namespace orchard
