#include "orchard/model/model_graph.h"

#include <algorithm>
#include <openvino/core/except.hpp>
#include <openvino/core/preprocess/pre_post_process.hpp>
#include <openvino/op/clamp.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/multiply.hpp>
#include <openvino/op/reduce_mean.hpp>
#include <openvino/op/reshape.hpp>
#include <openvino/op/result.hpp>
#include <openvino/op/round.hpp>
#include <openvino/op/subtract.hpp>
#include <openvino/op/util/framework_node.hpp>
#include <set>

#include "orchard/common/error.h"

namespace orchard {
namespace {

using ov::op::util::FrameworkNode;

bool IsLayoutOnly(const ov::Node& node) {
  const std::string_view type = node.get_type_name();
  return type == "Transpose" || type == "Reshape" || type == "Squeeze" || type == "Unsqueeze";
}

// An integer feature tensor holds quantisation codes; the features are their real values. Cutting a TFLite
// model (or OpenVINO's QuantizeLinear) at one yields FakeQuantize(real -> codes) -> Convert: re-targeting the
// FakeQuantize's output range to its input range gives the same grid in real units. orchard's exact QLinear
// translations mark their codes with scale and zero point (kCodesQuantisationKey). Any other integer tensor
// is refused: read as numbers, its codes would be features off by the scale and, with a zero point, pointing
// elsewhere (onnxruntime's QOperator models pool such codes in QLinearGlobalAveragePool).
void MakeOutputReal(ov::Model& model, const std::filesystem::path& path, const std::string& feature_tensor) {
  auto result = model.get_results().at(0);
  if (result->get_input_element_type(0).is_real()) return;
  ov::Node* node = result->get_input_node_ptr(0);
  while (IsLayoutOnly(*node)) node = node->get_input_node_ptr(0);
  const auto fq = ov::as_type_ptr<ov::op::v0::FakeQuantize>(node->get_input_node_shared_ptr(0));
  const auto marked = node->get_rt_info().find(kCodesQuantisationKey);
  if (ov::is_type<ov::op::v0::Convert>(node) && fq != nullptr) {
    auto real =
        std::make_shared<ov::op::v0::FakeQuantize>(fq->input_value(0), fq->input_value(1), fq->input_value(2),
                                                   fq->input_value(1), fq->input_value(2), fq->get_levels());
    node->output(0).replace(real->output(0));
  } else if (ov::is_type<ov::op::v0::Convert>(node) && marked != node->get_rt_info().end()) {
    const auto quantisation = marked->second.as<std::vector<float>>();
    const auto constant = [](float value) {
      return ov::op::v0::Constant::create(ov::element::f32, {}, {value});
    };
    // The Convert's input holds the codes as f32 (integers, so exact).
    auto centred = std::make_shared<ov::op::v1::Subtract>(node->input_value(0), constant(quantisation.at(1)));
    auto real = std::make_shared<ov::op::v1::Multiply>(centred, constant(quantisation.at(0)));
    node->output(0).replace(real->output(0));
  } else {
    ThrowModelError(path, "the feature tensor '" + feature_tensor + "' holds integer codes (" +
                              result->get_input_element_type(0).to_string() +
                              ") whose scale orchard cannot find, so they are not features; pass "
                              "--feature-tensor naming a float tensor");
  }
  model.validate_nodes_and_infer_types();
}

// Drops kCodesQuantisationKey everywhere: it is for MakeOutputReal only, not for the compiled or exported
// graph.
void ForgetCodesQuantisation(ov::Model& model) {
  for (const auto& op : model.get_ops()) op->get_rt_info().erase(kCodesQuantisationKey);
}

// The image input as the converted graph declares it (after Load() fixed a dynamic height and width).
void ReadInput(const ov::Model& model, const std::filesystem::path& path, ModelContract& contract) {
  if (model.inputs().size() != 1)
    ThrowModelError(path, "expected one image input, the model has " + std::to_string(model.inputs().size()));
  const auto& input = model.input();
  const auto shape = input.get_partial_shape();
  const auto side = [](const ov::Dimension& d) { return d.is_static() ? int(d.get_length()) : kDefaultSide; };
  if (shape.rank().is_static() && shape.size() == 4 && (shape[1] == 3 || shape[3] == 3)) {
    const bool nchw = shape[1] == 3;
    contract.input_layout = nchw ? TensorLayout::kNchw : TensorLayout::kNhwc;
    contract.height = side(shape[nchw ? 2 : 1]);
    contract.width = side(shape[nchw ? 3 : 2]);
    if (shape[0].is_static()) contract.file_batch = shape[0].get_length();
  } else {
    const auto problem = InputShapeProblem(shape);
    ThrowModelError(path,
                    problem.empty() ? "input shape " + shape.to_string() + " is not an image" : problem);
  }
  contract.input_name = input.get_names().empty() ? "" : input.get_any_name();
  const auto type = input.get_element_type();
  contract.input_element_type = type.to_string();
  if (type == ov::element::u8) {
    contract.input_type = InputElementType::kUint8;
  } else if (type == ov::element::i8) {
    contract.input_type = InputElementType::kInt8;
  } else if (!type.is_real()) {
    ThrowModelError(path,
                    "input element type " + type.to_string() + " is not an image's (float, uint8 or int8)");
  }
}

ov::PartialShape InputShape(const ModelContract& contract, ov::Dimension batch) {
  return contract.input_layout == TensorLayout::kNchw
             ? ov::PartialShape{batch, 3, contract.height, contract.width}
             : ov::PartialShape{batch, contract.height, contract.width, 3};
}

std::vector<std::int64_t> SpatialAxes(std::int64_t rank, ChannelAxis channels) {
  std::vector<std::int64_t> axes;
  const std::int64_t first = channels == ChannelAxis::kFirst ? 2 : 1;
  for (std::int64_t axis = first; axis < first + rank - 2; ++axis) axes.push_back(axis);
  return axes;
}

// One vector per image: a spatial map is averaged over its own spatial axes (`channels` says where its
// channels are; unknown: it is flattened), anything else of rank != 2 is flattened. Returns the averaged
// axes.
std::vector<std::int64_t> ReduceToVector(ov::Model& model, std::optional<ChannelAxis> channels) {
  auto result = model.get_results().at(0);
  ov::Output<ov::Node> value = result->input_value(0);
  const auto rank = value.get_partial_shape().rank();
  if (rank.is_static() && rank.get_length() == 2) return {};
  std::vector<std::int64_t> axes;
  if (rank.is_static() && rank.get_length() >= 3 && channels) {
    axes = SpatialAxes(rank.get_length(), *channels);
    auto axes_const = ov::op::v0::Constant::create(ov::element::i64, {axes.size()}, axes);
    value = std::make_shared<ov::op::v1::ReduceMean>(value, axes_const, false)->output(0);
  }
  if (!(rank.is_static() && rank.get_length() - static_cast<std::int64_t>(axes.size()) == 2)) {
    auto keep_batch = ov::op::v0::Constant::create(ov::element::i64, {2}, {0, -1});
    value = std::make_shared<ov::op::v1::Reshape>(value, keep_batch, true)->output(0);
  }
  result->input(0).replace_source_output(value);
  model.validate_nodes_and_infer_types();
  return axes;
}

// Callers feed f32; a model taking integers (uint8/int8 TFLite) gets its codes rounded (to the nearest even,
// as TFLite quantises), clamped to the type's range and converted in the graph. The caller's preprocessing
// gives the codes (ModelContract::Spec sees to it).
void AcceptF32(std::shared_ptr<ov::Model>& model) {
  const auto input_type = model->input().get_element_type();
  const bool f32_in = input_type == ov::element::f32;
  const bool f32_out = model->output().get_element_type() == ov::element::f32;
  if (f32_in && f32_out) return;
  ov::preprocess::PrePostProcessor ppp(model);
  if (!f32_in) {
    ppp.input().tensor().set_element_type(ov::element::f32);
    if (input_type.is_integral()) {
      const bool int8 = input_type == ov::element::i8;
      ppp.input().preprocess().custom([int8](const ov::Output<ov::Node>& codes) {
        const auto rounded =
            std::make_shared<ov::op::v5::Round>(codes, ov::op::v5::Round::RoundMode::HALF_TO_EVEN);
        return std::make_shared<ov::op::v0::Clamp>(rounded, int8 ? -128.0 : 0.0, int8 ? 127.0 : 255.0)
            ->output(0);
      });
    }
    ppp.input().preprocess().convert_element_type();
  }
  // A float16 model (onnxconverter-common's float16 conversion) gives f16 features: widened, exactly.
  if (!f32_out) ppp.output().tensor().set_element_type(ov::element::f32);
  model = ppp.build();
}

// Whether the output's first dimension is the input's batch, at two batch sizes: a graph that hard-codes its
// batch (a Reshape to [1, 8, -1]) gives [1, ...] for any input batch, or fails to reshape at all.
bool OutputBatchFollowsInput(const ov::Model& model, const ModelContract& contract) {
  for (const std::int64_t batch : {2, 3}) {
    const auto probe = model.clone();
    try {
      probe->reshape(InputShape(contract, batch));
    } catch (const ov::Exception&) {
      return false;  // the graph cannot take another batch, which is the answer asked for
    }
    const auto out = probe->output().get_partial_shape();
    if (out.rank().is_dynamic() || out.size() != 2 || out[0] != batch) return false;
  }
  return true;
}

// A dynamic batch where the graph lets its output follow it, else the batch the file fixes.
void SetBatch(ov::Model& model, ModelContract& contract, const std::filesystem::path& path) {
  contract.batch_follows_input = OutputBatchFollowsInput(model, contract);
  if (contract.batch_follows_input) {
    model.reshape(InputShape(contract, ov::Dimension::dynamic()));
    return;
  }
  const auto out = model.output().get_partial_shape();
  if (!contract.file_batch || out.rank().is_dynamic() || out.size() != 2 || out[0] != *contract.file_batch) {
    ThrowModelError(path, "the feature tensor's first dimension is not the batch of images (output " +
                              out.to_string() + "); pass a --feature-tensor that has one row per image");
  }
  model.reshape(InputShape(contract, *contract.file_batch));
}

}  // namespace

std::string InputShapeProblem(const ov::PartialShape& shape) {
  const std::string wanted = "input shape " + shape.to_string();
  const std::string layouts = ": orchard takes a batch of 3-channel images, [N,3,H,W] or [N,H,W,3]";
  if (shape.rank().is_dynamic()) return wanted + " has no known rank" + layouts;
  if (shape.size() == 3 && (shape[0] == 3 || shape[2] == 3))
    return wanted + " has no batch axis" + layouts + " (export the model with one)";
  if (shape.size() != 4) return wanted + " has rank " + std::to_string(shape.size()) + layouts;
  if (shape[1] == 3 || shape[3] == 3) return "";
  if (shape[1].is_dynamic() && shape[3].is_dynamic())
    return wanted + " leaves its channels symbolic" + layouts + " (export it with 3 channels fixed)";
  const auto& channels = shape[1].is_static() && shape[1].get_length() <= 4 ? shape[1] : shape[3];
  return wanted + " has " + channels.to_string() + " channels" + layouts;
}

namespace {

bool HasFakeQuantize(const ov::Model& model) {
  const auto ops = model.get_ops();
  return std::any_of(ops.begin(), ops.end(),
                     [](const auto& node) { return ov::is_type<ov::op::v0::FakeQuantize>(node); });
}

bool HasQuantisation(const ov::Model& model) {
  const auto ops = model.get_ops();
  return std::any_of(ops.begin(), ops.end(), [](const auto& node) {
    if (ov::is_type<ov::op::v0::FakeQuantize>(node)) return true;
    // Integer weights dequantised on the fly (how the ONNX frontend translates QLinear ops).
    return ov::is_type<ov::op::v0::Convert>(node) &&
           ov::is_type<ov::op::v0::Constant>(node->get_input_node_ptr(0)) &&
           node->get_input_element_type(0).is_integral_number() &&
           node->get_input_element_type(0).bitwidth() <= 8;
  });
}

// The ONNX frontend's graph-iterator model only reorders existing outputs. Its decoded graph is translated
// except for ops it cannot convert, which stay framework nodes: keeping only what the feature tensor depends
// on drops the classifier head. (FrontEnd::convert() would not finish such a cut graph: it needs the
// decoder's private state, which does not survive rebuilding the model.)
std::shared_ptr<ov::Model> CutDecoded(const ModelSource& source,
                                      const ov::frontend::InputModel::Ptr& input_model,
                                      const std::string& feature_tensor) {
  const auto decoded = source.frontend->decode(input_model);
  for (const auto& node : decoded->get_ordered_ops()) {
    for (const auto& output : node->outputs()) {
      if (!output.get_names().contains(feature_tensor)) continue;
      auto cut = std::make_shared<ov::Model>(ov::ResultVector{std::make_shared<ov::op::v0::Result>(output)},
                                             decoded->get_parameters());
      std::set<std::string> unconverted;
      for (const auto& op : cut->get_ops()) {
        if (ov::is_type<FrameworkNode>(op)) unconverted.insert(OpType(*op));
      }
      if (!unconverted.empty()) {
        std::string names;
        for (const auto& name : unconverted) names += (names.empty() ? "" : ", ") + name;
        ThrowModelError(source.path, "OpenVINO cannot convert " + names + ", which tensor '" +
                                         feature_tensor + "' depends on; choose a tensor before it");
      }
      return cut;
    }
  }
  ThrowModelError(source.path, "tensor '" + feature_tensor + "' is not reachable from the model's outputs");
}

std::shared_ptr<ov::Model> Convert(const ModelSource& source, const std::string& feature_tensor) {
  auto input_model = source.Load();
  if (feature_tensor.empty()) return source.frontend->convert(input_model);
  const auto place = input_model->get_place_by_tensor_name(feature_tensor);
  if (place == nullptr) ThrowModelError(source.path, "no tensor named '" + feature_tensor + "' in the model");
  // Frontends that can re-target their outputs (TFLite) cut before conversion, so nothing past the feature
  // tensor has to be convertible; OpenVINO 2026.4's ONNX frontend refuses anything but existing outputs.
  try {
    input_model->override_all_outputs({place});
  } catch (const ov::Exception&) {
    return CutDecoded(source, source.Load(), feature_tensor);
  }
  return source.frontend->convert(input_model);
}

// The framework op types the ONNX frontend cannot translate, for an error message. (The TFLite frontend's
// decoded graph is framework nodes throughout: it translates at conversion, so it has nothing to say here.)
std::string UnconvertedOps(const ModelSource& source) {
  if (source.frontend->get_name() != "onnx") return {};
  std::set<std::string> types;
  for (const auto& op : source.frontend->decode(source.Load())->get_ops()) {
    if (ov::is_type<FrameworkNode>(op)) types.insert(OpType(*op));
  }
  std::string names;
  for (const auto& type : types) names += (names.empty() ? "" : ", ") + type;
  return names;
}

// The input of the deepest pool that is not a gate; else the model's only output when it is a spatial map (a
// backbone exported without its head, e.g. Keras include_top=False, pooling=None), which cannot be logits.
std::string DefaultFeatureTensor(const ModelSource& source, const std::vector<FeatureCandidate>& candidates) {
  const auto pool = std::find_if(candidates.rbegin(), candidates.rend(),
                                 [](const FeatureCandidate& c) { return !c.reweights_map; });
  if (pool != candidates.rend()) return pool->tensor;
  // An op the frontend cannot translate hides the shapes (and pools) after it: that is the reason to give.
  const std::string unconverted = UnconvertedOps(source);
  if (!unconverted.empty()) {
    ThrowModelError(source.path, "OpenVINO cannot convert its " + unconverted +
                                     " op(s), and no global average pooling was found before them; pass "
                                     "--feature-tensor NAME to cut the graph before them");
  }
  const auto model = source.Load();
  const auto outputs = model->get_outputs();
  if (outputs.size() == 1 && !outputs[0]->get_names().empty()) {
    const auto shape = model->get_partial_shape(outputs[0]);
    if (shape.rank().is_static() && shape.size() == 4) return outputs[0]->get_names().front();
  }
  ThrowModelError(
      source.path,
      "no global average pooling found (ONNX GlobalAveragePool, ReduceMean or AveragePool over the "
      "whole map; TFLite MEAN or AVERAGE_POOL_2D), so orchard cannot tell the features from the "
      "logits; pass --feature-tensor NAME (orchard describe-model --tensors lists the model's tensors)");
}

}  // namespace

FeatureGraph BuildFeatureGraph(const ModelSource& source, const std::string& feature_tensor) {
  FeatureGraph graph;
  ModelContract& contract = graph.contract;
  contract.file = source.path;
  const auto candidates = FindFeatureCandidates(source);
  contract.feature_tensor =
      feature_tensor.empty() ? DefaultFeatureTensor(source, candidates) : feature_tensor;
  try {
    graph.model = Convert(source, contract.feature_tensor);
    ReadInput(*graph.model, source.path, contract);
    contract.input_normalisation = FindInputNormalisation(*graph.model, contract.input_layout);
    if (const auto range = FloatInputQuantisationRange(*graph.model))
      contract.calibrated_preset = PresetOfRange(range->first, range->second);
    contract.spatial_size_fixed = source.spatial_size_fixed;
    contract.quantised = HasQuantisation(*graph.model);
    contract.activations_quantised = HasFakeQuantize(*graph.model);
    if (graph.model->outputs().size() != 1) {
      ThrowModelError(source.path, "expected one output, got " +
                                       std::to_string(graph.model->outputs().size()) +
                                       "; pass --feature-tensor");
    }
    MakeOutputReal(*graph.model, source.path, contract.feature_tensor);
    ForgetCodesQuantisation(*graph.model);
    contract.feature_tensor_shape = graph.model->output().get_partial_shape().to_string();
    contract.pooled_axes =
        ReduceToVector(*graph.model, FeatureChannelAxis(source, candidates, contract.feature_tensor,
                                                        graph.model->get_results().at(0)->input_value(0)));
    AcceptF32(graph.model);
    SetBatch(*graph.model, contract, source.path);
    if (source.quantised_ops == QuantisedOps::kExact) ComputeQuantisationInFloat(graph.model);
  } catch (const ov::Exception& error) {
    ThrowModelError(source.path, ShortReason(error));
  }
  const auto dim = graph.model->output().get_partial_shape()[1];
  if (dim.is_dynamic()) ThrowModelError(source.path, "the feature tensor's size is not static");
  if (dim.get_length() < 2) {
    ThrowModelError(source.path, "the feature tensor '" + contract.feature_tensor + "' " +
                                     contract.feature_tensor_shape +
                                     " gives one value per image, which is no feature vector; pass "
                                     "--feature-tensor (describe-model --tensors lists them)");
  }
  contract.feature_dim = static_cast<std::size_t>(dim.get_length());
  return graph;
}

}  // namespace orchard
