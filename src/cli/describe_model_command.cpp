// `orchard describe-model`: what orchard reads from a model file (inputs, outputs, the feature tensor it
// would cut at and the candidates, layout, pixel type, batch, default preprocessing), as text or JSON.

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/common/config.h"
#include "orchard/model/model_description.h"

namespace orchard::cli {
namespace {

struct DescribeArguments {
  std::string model = DefaultModelPath().string();
  std::string feature_tensor;
  bool json = false;
  bool tensors = false;
};

}  // namespace

CommandAction RegisterDescribeModelCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "describe-model",
      "Show what orchard reads from a model: inputs, outputs, layout, pixel type, batch, the feature tensor "
      "it "
      "cuts at and the candidates, the default preprocessing. Exit 3 when orchard would refuse the model.");
  auto args = std::make_shared<DescribeArguments>();
  command->add_option("model", args->model, "ONNX or TFLite model (local file)")->capture_default_str();
  command->add_option("--feature-tensor", args->feature_tensor,
                      "Describe the cut at this tensor instead of the default");
  command->add_flag("--json", args->json, "Print JSON instead of text");
  command->add_flag("--tensors", args->tensors,
                    "Also list every named tensor of the graph (what --feature-tensor can name)");
  return [args] {
    const ModelDescription description = DescribeModel(args->model, args->feature_tensor, args->tensors);
    std::cout << (args->json ? description.json.dump(2) + "\n" : description.Text());
    return description.usable() ? kExitSuccess : kExitIoError;
  };
}

}  // namespace orchard::cli
