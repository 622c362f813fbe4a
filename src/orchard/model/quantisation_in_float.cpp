// A quantised graph computed in float, for QuantisedOps::kExact: each FakeQuantize as the arithmetic its
// definition gives, integer weights dequantised once into f32 constants.
//
// Why FakeQuantize: the CPU plugin's low-precision transformations fuse every FakeQuantize pattern they
// recognise (a uint8 TFLite's requantisation, an ONNX QDQ pair) into int8 convolutions, whatever the
// inference precision hint says. Without VNNI those kernels add u8 x s8 pairs in 16 bits and saturate with
// full-range int8 weights: a uint8 TFLite from Keras gave cosine 0.93 to LiteRT at "f32" on an AMD EPYC Zen
// 3, against 0.96 between LiteRT's own two kernel sets. The plugin has no public switch for those
// transformations; a graph without FakeQuantize gives them nothing to match.
//
// Why the weights: without those transformations, OpenVINO 2026.4's CPU plugin computed the TFLite
// frontend's dequantising weight chains (Convert u8 -> Subtract zero point -> Multiply scale, which the
// frontend marks not to fold) wrongly under the throughput hint: with 2 streams, one compile in two gave
// features at cosine 0.2-0.7 to the same graph's 1-stream result, the same on every request of that compile
// (tests/python/test_int8_kernels.py). With the weights folded into f32 constants every compile agrees.

#include <memory>
#include <openvino/op/add.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/divide.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/maximum.hpp>
#include <openvino/op/minimum.hpp>
#include <openvino/op/multiply.hpp>
#include <openvino/op/round.hpp>
#include <openvino/op/subtract.hpp>
#include <openvino/pass/constant_folding.hpp>
#include <openvino/pass/manager.hpp>

#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

using ov::Output;
using ov::op::AutoBroadcastSpec;

// OpenVINO's FakeQuantize spec (opset1), for input_low < input_high:
//   q = round((clamp(x, il, ih) - il) / (ih - il) * (levels - 1))       the integer code, 0 .. levels - 1
//   y = q / (levels - 1) * (oh - ol) + ol
// rounding half to even, as the reference implementation's std::nearbyint does. Against the CPU plugin's own
// kernel (the default model's f32 graph before), 21 of 5,195 Test photos' features moved to cosine
// 0.985-0.999, a pixel near a code boundary rounding the other way; the other rows stayed within 7e-7.
Output<ov::Node> Decomposed(const ov::op::v0::FakeQuantize& fq) {
  using namespace ov::op;
  const AutoBroadcastSpec& broadcast = fq.get_auto_broadcast();
  const Output<ov::Node> x = fq.input_value(0);
  const Output<ov::Node> il = fq.input_value(1);
  const Output<ov::Node> ih = fq.input_value(2);
  const Output<ov::Node> ol = fq.input_value(3);
  const Output<ov::Node> oh = fq.input_value(4);
  const auto steps =
      v0::Constant::create(x.get_element_type(), ov::Shape{}, {static_cast<double>(fq.get_levels() - 1)});
  const auto clamped =
      std::make_shared<v1::Minimum>(std::make_shared<v1::Maximum>(x, il, broadcast), ih, broadcast);
  const auto to_codes =
      std::make_shared<v1::Divide>(steps, std::make_shared<v1::Subtract>(ih, il, broadcast), broadcast);
  const auto codes = std::make_shared<v5::Round>(
      std::make_shared<v1::Multiply>(std::make_shared<v1::Subtract>(clamped, il, broadcast), to_codes,
                                     broadcast),
      v5::Round::RoundMode::HALF_TO_EVEN);
  const auto to_output =
      std::make_shared<v1::Divide>(std::make_shared<v1::Subtract>(oh, ol, broadcast), steps, broadcast);
  return std::make_shared<v1::Add>(std::make_shared<v1::Multiply>(codes, to_output, broadcast), ol,
                                   broadcast);
}

}  // namespace

void ComputeQuantisationInFloat(const std::shared_ptr<ov::Model>& model) {
  for (const auto& node : model->get_ordered_ops()) {
    if (const auto fq = ov::as_type_ptr<ov::op::v0::FakeQuantize>(node)) {
      const Output<ov::Node> value = Decomposed(*fq);
      value.get_node()->set_friendly_name(fq->get_friendly_name());
      fq->output(0).replace(value);  // moves the tensor names too
    } else if (ov::is_type<ov::op::v0::Convert>(node) &&
               ov::is_type<ov::op::v0::Constant>(node->get_input_node_ptr(0))) {
      ov::pass::enable_constant_folding(node);
    }
  }
  ov::pass::Manager passes;
  passes.register_pass<ov::pass::ConstantFolding>();
  passes.run_passes(model);
}

}  // namespace orchard
