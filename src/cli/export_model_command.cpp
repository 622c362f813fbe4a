// `orchard export-model`: writes the graph orchard runs as OpenVINO IR, so that benchmark_app measures the
// very model behind `orchard run` (the inference-only ceiling of the pipeline).

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/common/config.h"
#include "orchard/common/error.h"
#include "orchard/model/embedding_model.h"

namespace orchard::cli {
namespace {

struct ExportArguments {
  ExportArguments() { model.path = DefaultModelPath(); }
  ModelOptions model;
  std::string precision = "f32";
  std::filesystem::path output;
};

int RunExport(ExportArguments args) {
  args.model.precision = ParsePrecision(args.precision);
  const EmbeddingModel model(args.model);
  std::error_code error;
  if (args.output.has_parent_path()) std::filesystem::create_directories(args.output.parent_path(), error);
  if (error) throw IoError(args.output.parent_path().string() + ": " + error.message());
  model.SaveAsIr(args.output);
  std::cout << "orchard: " << args.model.path.string() << " cut at '" << model.feature_tensor() << "' ("
            << model.feature_dim() << "-d features, input " << model.input_width() << "x"
            << model.input_height() << ") -> " << args.output.string() << "\n";
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterExportModelCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "export-model",
      "Write the graph `orchard run` executes (cut at the feature tensor, pooled) as OpenVINO IR (.xml + "
      ".bin), e.g. for benchmark_app. The batch is left dynamic: orchard fixes it (benchmark_app -shape) for "
      "every model except a quantised one at f32.");
  auto args = std::make_shared<ExportArguments>();
  command->add_option("--model,-m", args->model.path, "ONNX or TFLite model (local file)")
      ->capture_default_str();
  command->add_option("--feature-tensor", args->model.feature_tensor,
                      "Tensor to cut the model at (default: the input of its global average pool)");
  command
      ->add_option("--precision", args->precision,
                   "The run's precision: int8 exports a quantised ONNX model's QLinear operators in the QDQ "
                   "form that runs int8 kernels, as `orchard run --precision int8` does")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  command->add_option("--output,-o", args->output, "IR file to write; must end in .xml (weights go to .bin)")
      ->required()
      ->check([](const std::string& path) {
        return std::filesystem::path(path).extension() == ".xml" ? "" : "the output must end in .xml";
      });
  return [args] { return RunExport(*args); };
}

}  // namespace orchard::cli
