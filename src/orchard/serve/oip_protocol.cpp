#include "orchard/serve/oip_protocol.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace orchard::oip {
namespace {

using nlohmann::json;

static_assert(std::endian::native == std::endian::little, "binary tensors are little-endian on the wire");

constexpr std::array<std::string_view, 6> kOutputs = {"label",   "top_k_labels",  "top_k_probabilities",
                                                      "unknown", "unknown_score", "features"};
constexpr std::array<std::string_view, 4> kDefaultOutputs = {"label", "top_k_labels", "top_k_probabilities",
                                                             "unknown"};

const json& Member(const json& object, const char* key, json::value_t type, const std::string& where) {
  static const json kNull;
  const auto found = object.find(key);
  if (found == object.end()) return kNull;
  const bool number = type == json::value_t::number_unsigned;
  if (number ? !found->is_number_unsigned() : found->type() != type)
    throw ProtocolError(where + "\"" + key + "\" has the wrong JSON type");
  return *found;
}

bool Flag(const json& parameters, const char* key, bool fallback, const std::string& where) {
  const json& value = Member(parameters, key, json::value_t::boolean, where);
  return value.is_null() ? fallback : value.get<bool>();
}

std::size_t TopK(const json& parameters, std::size_t fallback, std::size_t labels) {
  const json& value = Member(parameters, "top_k", json::value_t::number_unsigned, "parameter ");
  const std::size_t k = value.is_null() ? fallback : value.get<std::size_t>();
  if (k == 0) throw ProtocolError("parameter \"top_k\" must be a positive integer");
  return std::min(k, labels);
}

// The "images" input's N elements, from its JSON "data" or from `binary` (advanced past what it used).
std::vector<std::string> ReadImages(const json& input, std::string_view& binary, std::size_t max_images) {
  const std::string where = "input \"" + std::string(kInputName) + "\": ";
  if (input.value("name", "") != kInputName)
    throw ProtocolError("the model has one input, \"" + std::string(kInputName) + "\" (encoded images)");
  if (input.value("datatype", "") != "BYTES") throw ProtocolError(where + "the datatype must be BYTES");
  const json& shape = Member(input, "shape", json::value_t::array, where);
  if (shape.size() != 1 || !shape[0].is_number_unsigned())
    throw ProtocolError(where + "the shape must be [N], N the number of images");
  const std::size_t n = shape[0].get<std::size_t>();
  if (n == 0 || n > max_images)
    throw ProtocolError(where + "N must be between 1 and " + std::to_string(max_images));
  const json& parameters = Member(input, "parameters", json::value_t::object, where);
  const json& size = parameters.is_null()
                         ? parameters
                         : Member(parameters, "binary_data_size", json::value_t::number_unsigned, where);
  if (!size.is_null()) {
    const std::size_t bytes = size.get<std::size_t>();
    if (bytes > binary.size()) throw ProtocolError(where + "binary_data_size runs past the end of the body");
    auto images = DecodeBytesElements(binary.substr(0, bytes), n);
    binary.remove_prefix(bytes);
    return images;
  }
  const json& data = Member(input, "data", json::value_t::array, where);
  if (data.size() != n) throw ProtocolError(where + "\"data\" must hold N strings (or use binary data)");
  std::vector<std::string> images;
  for (const json& element : data) {
    if (!element.is_string()) throw ProtocolError(where + "BYTES elements in JSON must be strings");
    images.push_back(element.get<std::string>());
  }
  return images;
}

std::vector<RequestedOutput> ReadOutputs(const json& header, bool binary_default) {
  std::vector<RequestedOutput> outputs;
  const json& requested = Member(header, "outputs", json::value_t::array, "");
  if (requested.is_null()) {
    for (const auto name : kDefaultOutputs) outputs.push_back({std::string(name), binary_default});
    return outputs;
  }
  for (const json& output : requested) {
    const std::string name = output.is_object() ? output.value("name", "") : "";
    if (std::find(kOutputs.begin(), kOutputs.end(), name) == kOutputs.end())
      throw ProtocolError(
          "unknown output \"" + name +
          "\": the outputs are label, top_k_labels, top_k_probabilities, unknown, unknown_score, "
          "features");
    const std::string where = "output \"" + name + "\": ";
    const json& parameters = Member(output, "parameters", json::value_t::object, where);
    if (parameters.is_null()) {
      outputs.push_back({name, binary_default});
      continue;
    }
    if (parameters.contains("classification"))
      throw ProtocolError(where + "the classification extension is not supported: ask for top_k_labels");
    outputs.push_back({name, Flag(parameters, "binary_data", binary_default, where)});
  }
  return outputs;
}

json Tensor(std::string_view name, std::string_view datatype, json shape) {
  return {{"name", name}, {"datatype", datatype}, {"shape", std::move(shape)}};
}

// One output tensor of the response: its JSON description, and its data as JSON or appended to `binary`.
json EncodeOutput(const RequestedOutput& output, std::span<const Recognition> results, std::size_t k,
                  std::string& binary) {
  const std::size_t n = results.size();
  std::vector<std::string> strings;
  std::vector<float> floats;
  std::vector<std::uint8_t> bools;
  json tensor;
  if (output.name == "label") {  // "" for an unknown fruit: a BYTES element cannot be null
    for (const auto& result : results) strings.push_back(result.label().value_or(""));
    tensor = Tensor(output.name, "BYTES", json::array({n}));
  } else if (output.name == "unknown") {
    for (const auto& result : results) bools.push_back(result.unknown ? 1 : 0);
    tensor = Tensor(output.name, "BOOL", json::array({n}));
  } else if (output.name == "unknown_score") {  // 0 when the bundle has no detector
    for (const auto& result : results) floats.push_back(result.unknown_score.value_or(0.0f));
    tensor = Tensor(output.name, "FP32", json::array({n}));
  } else if (output.name == "top_k_labels") {
    for (const auto& result : results)
      for (const auto& scored : result.top_k) strings.push_back(scored.label);
    tensor = Tensor(output.name, "BYTES", json::array({n, k}));
  } else if (output.name == "top_k_probabilities") {
    for (const auto& result : results)
      for (const auto& scored : result.top_k) floats.push_back(scored.probability);
    tensor = Tensor(output.name, "FP32", json::array({n, k}));
  } else {
    const std::size_t dim = results.empty() ? 0 : results.front().features.size();
    for (const auto& result : results)
      floats.insert(floats.end(), result.features.begin(), result.features.end());
    tensor = Tensor(output.name, "FP32", json::array({n, dim}));
  }
  const bool bytes = tensor["datatype"] == "BYTES", boolean = tensor["datatype"] == "BOOL";
  if (!output.binary) {
    json data = bytes ? json(strings) : json(floats);
    if (boolean) {
      data = json::array();
      for (const std::uint8_t b : bools) data.push_back(b != 0);
    }
    tensor["data"] = std::move(data);
    return tensor;
  }
  const std::size_t before = binary.size();
  if (bytes) {
    binary += EncodeBytesElements(strings);
  } else if (boolean) {  // the protocol's BOOL: one byte per element
    binary.append(reinterpret_cast<const char*>(bools.data()), bools.size());
  } else {
    binary.append(reinterpret_cast<const char*>(floats.data()), floats.size() * sizeof(float));
  }
  tensor["parameters"] = {{"binary_data_size", binary.size() - before}};
  return tensor;
}

}  // namespace

InferRequest ParseInferRequest(std::string_view body, std::optional<std::size_t> header_length,
                               const ModelInfo& model, std::size_t default_top_k, std::size_t max_images) {
  const std::size_t json_size = header_length.value_or(body.size());
  if (json_size > body.size())
    throw ProtocolError("Inference-Header-Content-Length " + std::to_string(json_size) +
                        " is larger than the body (" + std::to_string(body.size()) + " bytes)");
  const json header = json::parse(body.substr(0, json_size), nullptr, false);
  if (header.is_discarded() || !header.is_object())
    throw ProtocolError("the request header is not a JSON object");
  std::string_view binary = body.substr(json_size);

  InferRequest request;
  request.id =
      Member(header, "id", json::value_t::string, "").is_null() ? "" : header["id"].get<std::string>();
  const json& parameters = Member(header, "parameters", json::value_t::object, "");
  const json no_parameters = json::object();
  const json& request_parameters = parameters.is_null() ? no_parameters : parameters;
  request.top_k = TopK(request_parameters, default_top_k, model.labels);
  const bool binary_default = Flag(request_parameters, "binary_data_output", false, "parameter ");

  const json& inputs = Member(header, "inputs", json::value_t::array, "");
  if (inputs.size() != 1 || !inputs[0].is_object())
    throw ProtocolError("\"inputs\" must hold one input, \"" + std::string(kInputName) + "\"");
  request.images = ReadImages(inputs[0], binary, max_images);
  if (!binary.empty())
    throw ProtocolError(std::to_string(binary.size()) + " bytes after the header belong to no input");
  request.outputs = ReadOutputs(header, binary_default);
  return request;
}

EncodedResponse EncodeInferResponse(const InferRequest& request, const ModelInfo& model,
                                    std::span<const Recognition> results) {
  json header = {{"model_name", model.name}, {"model_version", model.version}};
  if (!request.id.empty()) header["id"] = request.id;
  std::string binary;
  header["outputs"] = json::array();
  for (const auto& output : request.outputs)
    header["outputs"].push_back(EncodeOutput(output, results, request.top_k, binary));
  EncodedResponse response{header.dump(), std::nullopt};
  if (!binary.empty()) {
    response.header_length = response.body.size();
    response.body += binary;
  }
  return response;
}

json ServerMetadata() {
  return {
      {"name", "orchard"}, {"version", ORCHARD_VERSION}, {"extensions", json::array({"binary_tensor_data"})}};
}

json ModelMetadata(const ModelInfo& model) {
  return {
      {"name", model.name},
      {"versions", json::array({model.version})},
      {"platform", "openvino"},
      {"inputs", json::array({Tensor(kInputName, "BYTES", json::array({-1}))})},
      {"outputs",
       json::array(
           {Tensor("label", "BYTES", json::array({-1})),
            Tensor("top_k_labels", "BYTES", json::array({-1, -1})),
            Tensor("top_k_probabilities", "FP32", json::array({-1, -1})),
            Tensor("unknown", "BOOL", json::array({-1})), Tensor("unknown_score", "FP32", json::array({-1})),
            Tensor("features", "FP32", json::array({-1, static_cast<std::int64_t>(model.feature_dim)}))})}};
}

std::string EncodeBytesElements(std::span<const std::string> elements) {
  std::string out;
  for (const auto& element : elements) {
    const auto length = static_cast<std::uint32_t>(element.size());
    char prefix[4];
    std::memcpy(prefix, &length, sizeof prefix);
    out.append(prefix, sizeof prefix);
    out += element;
  }
  return out;
}

std::vector<std::string> DecodeBytesElements(std::string_view data, std::size_t count) {
  std::vector<std::string> elements;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t length = 0;
    if (data.size() < sizeof length)
      throw ProtocolError("BYTES element " + std::to_string(i) + ": the data ends before its length");
    std::memcpy(&length, data.data(), sizeof length);
    data.remove_prefix(sizeof length);
    if (length > data.size())
      throw ProtocolError("BYTES element " + std::to_string(i) + ": its length " + std::to_string(length) +
                          " runs past the end of the data");
    elements.emplace_back(data.substr(0, length));
    data.remove_prefix(length);
  }
  if (!data.empty())
    throw ProtocolError(std::to_string(data.size()) + " bytes left after " + std::to_string(count) +
                        " BYTES elements");
  return elements;
}

}  // namespace orchard::oip
