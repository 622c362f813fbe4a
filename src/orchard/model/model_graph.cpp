#include "orchard/model/model_graph.h"

#include <algorithm>
#include <openvino/core/except.hpp>
#include <openvino/core/preprocess/pre_post_process.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/convert.hpp>
#include <openvino/op/fake_quantize.hpp>
#include <openvino/op/reduce_mean.hpp>
#include <openvino/op/reshape.hpp>
#include <openvino/op/result.hpp>
#include <openvino/op/util/framework_node.hpp>
#include <set>
#include <system_error>

#include "orchard/common/error.h"

namespace orchard {
namespace {

constexpr int kDefaultSide = 224;
using ov::op::util::FrameworkNode;

bool IsLayoutOnly(const ov::Node& node) {
  const std::string_view type = node.get_type_name();
  return type == "Transpose" || type == "Reshape" || type == "Squeeze" || type == "Unsqueeze";
}

// Cutting a TFLite model at a uint8 tensor yields FakeQuantize(real -> codes 0..255) -> Convert(u8), i.e. the
// quantisation codes. Re-targeting the FakeQuantize's output range to its input range gives the same grid in
// real units, which is what the network computes with; any other integer output is converted as it is.
void MakeOutputReal(ov::Model& model) {
  auto result = model.get_results().at(0);
  if (result->get_input_element_type(0).is_real()) return;
  ov::Node* node = result->get_input_node_ptr(0);
  while (IsLayoutOnly(*node)) node = node->get_input_node_ptr(0);
  const auto fq = ov::as_type_ptr<ov::op::v0::FakeQuantize>(node->get_input_node_shared_ptr(0));
  if (ov::is_type<ov::op::v0::Convert>(node) && fq != nullptr) {
    auto real =
        std::make_shared<ov::op::v0::FakeQuantize>(fq->input_value(0), fq->input_value(1), fq->input_value(2),
                                                   fq->input_value(1), fq->input_value(2), fq->get_levels());
    node->output(0).replace(real->output(0));
  } else {
    auto as_float = std::make_shared<ov::op::v0::Convert>(result->input_value(0), ov::element::f32);
    result->input(0).replace_source_output(as_float);
  }
  model.validate_nodes_and_infer_types();
}

struct InputFacts {
  TensorLayout layout;
  int width;
  int height;
};

InputFacts ReadInput(const ov::Model& model, const std::filesystem::path& path) {
  if (model.inputs().size() != 1)
    ThrowModelError(path, "expected one input, the model has " + std::to_string(model.inputs().size()));
  const auto shape = model.input().get_partial_shape();
  const auto side = [](const ov::Dimension& d) { return d.is_static() ? int(d.get_length()) : kDefaultSide; };
  if (shape.rank().is_static() && shape.size() == 4) {
    if (shape[1] == 3) return {TensorLayout::kNchw, side(shape[3]), side(shape[2])};
    if (shape[3] == 3) return {TensorLayout::kNhwc, side(shape[2]), side(shape[1])};
  }
  ThrowModelError(path, "input shape " + shape.to_string() + " is neither [N,3,H,W] nor [N,H,W,3]");
}

// One vector per image: a spatial map is averaged over H and W, anything else of rank != 2 is flattened.
void ReduceToVector(ov::Model& model, TensorLayout layout) {
  auto result = model.get_results().at(0);
  const auto value = result->input_value(0);
  const auto rank = value.get_partial_shape().rank();
  if (rank.is_static() && rank.get_length() == 2) return;
  std::shared_ptr<ov::Node> vector;
  if (rank.is_static() && rank.get_length() == 4) {
    const std::vector<std::int64_t> axes =
        layout == TensorLayout::kNchw ? std::vector<std::int64_t>{2, 3} : std::vector<std::int64_t>{1, 2};
    auto axes_const = ov::op::v0::Constant::create(ov::element::i64, {2}, axes);
    vector = std::make_shared<ov::op::v1::ReduceMean>(value, axes_const, false);
  } else {
    auto keep_batch = ov::op::v0::Constant::create(ov::element::i64, {2}, {0, -1});
    vector = std::make_shared<ov::op::v1::Reshape>(value, keep_batch, true);
  }
  result->input(0).replace_source_output(vector);
  model.validate_nodes_and_infer_types();
}

// Callers feed f32; a model taking integers (uint8 TFLite) gets a conversion in the graph. The caller's
// preprocessing must then produce the raw range the model expects (for uint8: 0..255, no mean/std).
void AcceptF32(std::shared_ptr<ov::Model>& model) {
  if (model->input().get_element_type() == ov::element::f32) return;
  ov::preprocess::PrePostProcessor ppp(model);
  ppp.input().tensor().set_element_type(ov::element::f32);
  ppp.input().preprocess().convert_element_type();
  model = ppp.build();
}

void MakeBatchDynamic(ov::Model& model, const InputFacts& input) {
  const auto batch = ov::Dimension::dynamic();
  const auto shape = input.layout == TensorLayout::kNchw
                         ? ov::PartialShape{batch, 3, input.height, input.width}
                         : ov::PartialShape{batch, input.height, input.width, 3};
  model.reshape(shape);
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

}  // namespace

std::string ShortReason(const std::exception& error) {
  // OpenVINO prefixes "Exception from src/...cpp:NN:" and check names; the last non-empty line is the reason.
  std::string_view text = error.what();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const auto line_start = text.rfind('\n');
  if (line_start != std::string_view::npos) text.remove_prefix(line_start + 1);
  constexpr std::size_t kMaxLength = 300;
  return std::string(text.substr(0, kMaxLength));
}

void ThrowModelError(const std::filesystem::path& path, const std::string& reason) {
  throw ModelError("model " + path.string() + ": " + reason);
}

ModelSource ModelSource::Open(const std::filesystem::path& path) {
  ModelSource source;
  source.path = path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) ThrowModelError(path, "no such file");
  try {
    source.frontend = source.manager.load_by_model(path.string());
    if (source.frontend != nullptr && source.frontend->get_name() == "onnx")
      AddOnnxWorkarounds(*source.frontend);
  } catch (const ov::Exception& error) {
    ThrowModelError(path, ShortReason(error));
  }
  if (source.frontend == nullptr) ThrowModelError(path, "not a model OpenVINO can read (ONNX or TFLite)");
  return source;
}

ov::frontend::InputModel::Ptr ModelSource::Load() const { return frontend->load(path.string()); }

FeatureGraph BuildFeatureGraph(const ModelSource& source, const std::string& feature_tensor) {
  FeatureGraph graph;
  graph.feature_tensor = feature_tensor.empty() ? FindDefaultFeatureTensor(source) : feature_tensor;
  try {
    graph.model = Convert(source, graph.feature_tensor);
    const InputFacts input = ReadInput(*graph.model, source.path);
    graph.layout = input.layout;
    graph.width = input.width;
    graph.height = input.height;
    graph.quantised = HasQuantisation(*graph.model);
    if (graph.model->outputs().size() != 1) {
      ThrowModelError(source.path, "expected one output, got " +
                                       std::to_string(graph.model->outputs().size()) +
                                       "; pass --feature-tensor");
    }
    MakeOutputReal(*graph.model);
    ReduceToVector(*graph.model, input.layout);
    AcceptF32(graph.model);
    MakeBatchDynamic(*graph.model, input);
  } catch (const ov::Exception& error) {
    ThrowModelError(source.path, ShortReason(error));
  }
  const auto dim = graph.model->output().get_partial_shape()[1];
  if (dim.is_dynamic()) ThrowModelError(source.path, "the feature tensor's size is not static");
  graph.feature_dim = static_cast<std::size_t>(dim.get_length());
  return graph;
}

}  // namespace orchard
