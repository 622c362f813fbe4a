#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "orchard/model/model_contract.h"

namespace orchard {

// What `orchard describe-model` reports about a model file, without compiling it:
//   format          "onnx" | "tflite"
//   inputs/outputs  [{name, shape, element_type}] as the file declares them
//   candidates      [{tensor, shape, pool_op, pool_type, channels, reweights_map}]: every tensor a
//                   global-average-pooling op reads, shallowest first; the last (deepest) without
//                   reweights_map (a squeeze-and-excitation gate) is the default feature tensor
//   contract        ModelContract::ToJson() for `feature_tensor` ("" = the default), or null when orchard
//                   refuses the model; then
//   problem         the reason (the ModelError or UsageError message orchard run would stop with)
//   tensors         with list_tensors only: [{name, shape, element_type, op_type}], every named tensor of the
//                   graph (ListGraphTensors), which --feature-tensor can name
struct ModelDescription {
  nlohmann::json json;
  bool usable() const { return json.at("problem").is_null(); }
  // The same facts as indented text for a terminal.
  std::string Text() const;
};

// Throws ModelError only when the file cannot be read as a model at all (missing, not ONNX/TFLite, corrupt).
ModelDescription DescribeModel(const std::filesystem::path& path, const std::string& feature_tensor,
                               bool list_tensors = false);

// The contract of a model file (`feature_tensor` "" = the default) without compiling it. Throws ModelError as
// EmbeddingModel's constructor would.
ModelContract ReadModelContract(const std::filesystem::path& path, const std::string& feature_tensor);

}  // namespace orchard
