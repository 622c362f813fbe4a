// `orchard preprocess`: shows exactly what the network receives for one image, as an Arrow IPC tensor file
// that numpy/pyarrow read with pa.ipc.read_tensor(pa.memory_map(path)).

#include <arrow/buffer.h>
#include <arrow/ipc/writer.h>
#include <arrow/tensor.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/option_checks.h"
#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"
#include "orchard/image/preprocess_spec.h"
#include "orchard/model/model_description.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/storage/location.h"

namespace orchard::cli {
namespace {

struct PreprocessOptions {
  std::string image;
  std::string model;  // when set: size, layout and default preset from its contract, decoded as `run` does
  std::string feature_tensor;  // for a model whose contract needs one (no global pool found)
  std::string preset;
  std::optional<int> width;
  std::optional<int> height;
  std::string layout = "nchw";
  bool dct_scaling = false;
  std::string output;
};

void WriteTensorFile(std::vector<float> values, std::vector<std::int64_t> shape, const std::string& path) {
  auto buffer = arrow::Buffer::FromVector(std::move(values));
  auto tensor = arrow::Tensor::Make(arrow::float32(), buffer, shape);
  if (!tensor.ok())
    throw std::logic_error("tensor shape does not match its data: " + tensor.status().ToString());
  const Location location = ResolveLocation(path);
  auto file = ValueOrThrow(location.fs->OpenOutputStream(location.path), location.uri());
  std::int32_t metadata_length = 0;
  std::int64_t body_length = 0;
  // Tensor IPC messages are deprecated since Arrow 26 in favour of FixedShapeTensor arrays, but they are
  // still read by every pyarrow and are the simplest "dump one ndarray" format there is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  ThrowIfError(arrow::ipc::WriteTensor(**tensor, file.get(), &metadata_length, &body_length), path);
#pragma GCC diagnostic pop
  ThrowIfError(file->Close(), path);
}

int RunPreprocess(const PreprocessOptions& options) {
  PreprocessSpec spec;
  TensorLayout layout = options.layout == "nhwc" ? TensorLayout::kNhwc : TensorLayout::kNchw;
  bool dct_scaling = options.dct_scaling;
  if (!options.model.empty()) {
    const ModelContract contract = ReadModelContract(options.model, options.feature_tensor);
    spec = contract.Spec(options.preset);
    layout = contract.input_layout;
    dct_scaling = true;  // as every path that feeds the network decodes
  } else {
    if (options.preset.empty()) throw UsageError("preprocess: pass --preset or --model");
    spec = PreprocessSpec::FromPreset(options.preset);
    if (options.width) spec.width = *options.width;
    if (options.height) spec.height = *options.height;
  }

  const DecodeOptions decode_options =
      dct_scaling ? DecodeOptionsFor(spec, DecodeOptions{}.max_pixels) : DecodeOptions{};
  Image image;
  try {
    const auto bytes = ReadAll(ResolveLocation(options.image));
    image = DecodeImage({bytes->data(), static_cast<std::size_t>(bytes->size())}, decode_options);
  } catch (const InputError& e) {
    throw InputError(options.image + ": " + e.what());
  }

  std::vector<float> tensor(3 * static_cast<std::size_t>(spec.width) * spec.height);
  Preprocess(image, spec, layout, tensor);
  std::vector<std::int64_t> shape = layout == TensorLayout::kNchw
                                        ? std::vector<std::int64_t>{1, 3, spec.height, spec.width}
                                        : std::vector<std::int64_t>{1, spec.height, spec.width, 3};
  WriteTensorFile(std::move(tensor), std::move(shape), options.output);
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterPreprocessCommand(CLI::App& app) {
  auto options = std::make_shared<PreprocessOptions>();
  CLI::App* command = app.add_subcommand(
      "preprocess",
      "Decode and preprocess one image exactly as the pipeline does, and write the network's input "
      "tensor as an Arrow IPC tensor file (for debugging and reference tests)");
  command->add_option("image", options->image, "JPEG, PNG or WebP file")->required();
  auto* model = command->add_option(
      "--model,-m", options->model,
      "Fit everything to this model as `orchard run` does: its input size and layout, its default "
      "preset (describe-model says it), JPEG DCT scaling");
  command->add_option("--feature-tensor", options->feature_tensor,
                      "With --model: the tensor `orchard run --feature-tensor` would read, for a model whose "
                      "default orchard cannot find (the input does not depend on it)");
  command->add_option("--preset", options->preset,
                      "Preprocessing preset: imagenet, caffe, tf, raw or unit (required without --model)");
  // The model fixes these: given with --model they were silently ignored.
  command->add_option("--width", options->width, "Input width (default: the preset's, 224; not with --model)")
      ->check(WholeNumberAtLeast(1))
      ->excludes(model);
  command
      ->add_option("--height", options->height, "Input height (default: the preset's, 224; not with --model)")
      ->check(WholeNumberAtLeast(1))
      ->excludes(model);
  command
      ->add_option("--layout", options->layout,
                   "Tensor layout: nchw ([1,3,H,W]) or nhwc ([1,H,W,3]) (not with --model)")
      ->check(CLI::IsMember({"nchw", "nhwc"}))
      ->excludes(model)
      ->capture_default_str();
  command
      ->add_flag(
          "--dct-scaling", options->dct_scaling,
          "Let the JPEG decoder shrink large images in the DCT domain (never below twice the input size; "
          "not with --model, which does as `orchard run` does)")
      ->excludes(model);
  command->add_option("--output,-o", options->output, "Tensor file to write")->required();
  return [options] { return RunPreprocess(*options); };
}

}  // namespace orchard::cli
