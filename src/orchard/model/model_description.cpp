#include "orchard/model/model_description.h"

#include <openvino/core/except.hpp>
#include <sstream>

#include "orchard/common/error.h"
#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

// The contract's "normalised_in_graph" as a line of text.
std::string InGraph(const nlohmann::json& input) {
  const auto& json = input.at("normalised_in_graph");
  InputNormalisation map;
  map.scale = json.at("scale").get<std::array<float, 3>>();
  map.offset = json.at("offset").get<std::array<float, 3>>();
  const auto& expected = json.at("expects");
  return map.ToString() + " per channel" +
         (expected.is_string() ? ", expecting the " + expected.get<std::string>() + " preset's pixels" : "");
}

nlohmann::json Places(const ov::frontend::InputModel& model,
                      const std::vector<ov::frontend::Place::Ptr>& places) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& place : places) {
    const auto names = place->get_names();
    list.push_back({{"name", names.empty() ? "" : names.front()},
                    {"shape", model.get_partial_shape(place).to_string()},
                    {"element_type", model.get_element_type(place).to_string()}});
  }
  return list;
}

nlohmann::json Candidates(const std::vector<FeatureCandidate>& candidates) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : candidates) {
    list.push_back({{"tensor", c.tensor},
                    {"shape", c.shape},
                    {"pool_op", c.pool_op},
                    {"pool_type", c.pool_type},
                    {"channels", c.channel_axis == ChannelAxis::kFirst ? "first" : "last"},
                    {"reweights_map", c.reweights_map}});
  }
  return list;
}

void PrintPlaces(std::ostream& out, const char* title, const nlohmann::json& places) {
  out << title << ":\n";
  for (const auto& p : places) {
    out << "  " << p.at("name").get<std::string>() << "  " << p.at("shape").get<std::string>() << " "
        << p.at("element_type").get<std::string>() << "\n";
  }
}

nlohmann::json Tensors(const std::vector<GraphTensor>& tensors) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& tensor : tensors) {
    list.push_back({{"name", tensor.name},
                    {"shape", tensor.shape},
                    {"element_type", tensor.element_type},
                    {"op_type", tensor.op_type}});
  }
  return list;
}

}  // namespace

ModelDescription DescribeModel(const std::filesystem::path& path, const std::string& feature_tensor,
                               bool list_tensors) {
  const ModelSource source = ModelSource::Open(path);
  nlohmann::json json{{"file", path.string()}, {"format", source.frontend->get_name()}};
  try {
    // The file as it is, before orchard fixes a dynamic input size.
    const auto model = source.frontend->load(path.string());
    json["inputs"] = Places(*model, model->get_inputs());
    json["outputs"] = Places(*model, model->get_outputs());
  } catch (const ov::Exception& error) {
    ThrowModelError(path, ShortReason(error));
  }
  json["candidates"] = Candidates(FindFeatureCandidates(source));
  if (list_tensors) json["tensors"] = Tensors(ListGraphTensors(source));
  json["contract"] = nullptr;
  json["problem"] = nullptr;
  try {
    json["contract"] = BuildFeatureGraph(source, feature_tensor).contract.ToJson();
  } catch (const ModelError& error) {
    json["problem"] = error.what();
  } catch (const UsageError& error) {
    json["problem"] = error.what();
  }
  return {std::move(json)};
}

ModelContract ReadModelContract(const std::filesystem::path& path, const std::string& feature_tensor) {
  return BuildFeatureGraph(ModelSource::Open(path), feature_tensor).contract;
}

std::string ModelDescription::Text() const {
  std::ostringstream out;
  out << "model " << json.at("file").get<std::string>() << " (" << json.at("format").get<std::string>()
      << ")\n";
  PrintPlaces(out, "inputs", json.at("inputs"));
  PrintPlaces(out, "outputs", json.at("outputs"));
  out << "feature tensor candidates (inputs of global average pools, shallowest first; the last that is no "
         "squeeze-and-excitation gate is the default):\n";
  for (const auto& c : json.at("candidates")) {
    out << "  " << c.at("tensor").get<std::string>() << "  " << c.at("shape").get<std::string>()
        << ", channels " << c.at("channels").get<std::string>() << ", read by "
        << c.at("pool_type").get<std::string>() << " '" << c.at("pool_op").get<std::string>() << "'"
        << (c.at("reweights_map").get<bool>() ? " (squeeze-and-excitation gate)" : "") << "\n";
  }
  if (json.at("candidates").empty()) out << "  (none)\n";
  if (json.contains("tensors")) {
    out << "tensors (every named one, inputs first; --feature-tensor takes the name):\n";
    for (const auto& tensor : json.at("tensors")) {
      out << "  " << tensor.at("name").get<std::string>() << "  " << tensor.at("shape").get<std::string>()
          << " " << tensor.at("element_type").get<std::string>() << ", from "
          << tensor.at("op_type").get<std::string>() << "\n";
    }
  }
  if (!usable()) {
    out << "orchard cannot use it as it is: " << json.at("problem").get<std::string>() << "\n";
    return out.str();
  }
  const auto& c = json.at("contract");
  const auto& input = c.at("input");
  out << "orchard runs it as:\n"
      << "  input          " << input.at("layout").get<std::string>() << " " << input.at("height") << "x"
      << input.at("width") << ", " << input.at("pixels").get<std::string>() << " pixels ("
      << input.at("element_type").get<std::string>() << "), batch "
      << (input.at("batch").is_string() ? input.at("batch").get<std::string>() : input.at("batch").dump())
      << (input.at("spatial_size_fixed_by_orchard").get<bool>() ? ", dynamic size fixed at 224x224" : "")
      << "\n"
      << "  output batch   "
      << (c.at("output_batch_follows_input").get<bool>() ? "follows the input" : "fixed") << "\n"
      << "  feature tensor " << c.at("feature_tensor").at("name").get<std::string>() << " "
      << c.at("feature_tensor").at("shape").get<std::string>() << ", averaged over axes "
      << c.at("feature_tensor").at("pooled_axes").dump() << " -> " << c.at("feature_dim") << "-d features\n"
      << "  preprocessing  "
      << (c.at("default_preprocess").is_string()
              ? c.at("default_preprocess").get<std::string>() + " (default)"
              : std::string("none by default: pass --preprocess"))
      << (input.at("normalised_in_graph").is_null() ? "" : "; the graph's own first ops: " + InGraph(input))
      << (input.at("normalised_in_graph").is_null() &&
                  input.at("calibrated_preset") == c.at("default_preprocess")
              ? "; its input's quantisation was calibrated on that preset's range"
              : "")
      << "\n"
      << "  quantised      "
      << (!c.at("quantised").get<bool>()              ? "no"
          : c.at("activations_quantised").get<bool>() ? "yes"
                                                      : "weights only (dynamic range: no int8)")
      << "\n";
  return out.str();
}

}  // namespace orchard
