#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/common/error.h"
#include "orchard/recognition/bundle.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/storage/location.h"

namespace orchard::cli {
namespace {

struct PredictArguments {
  std::string bundle;
  std::vector<std::string> inputs;
  std::size_t top_k = 5;
  bool features = false;
  std::size_t batch = 16;
};

// The path first, so that a person reading the lines sees it first.
nlohmann::ordered_json ResultLine(const std::string& path, const Recognition& result) {
  nlohmann::ordered_json line = {{"path", path}};
  line.update(RecognitionJson(result));
  return line;
}

// Reads and recognises one batch of inputs; an unreadable input gets its error like an undecodable one.
std::size_t PredictBatch(Recognizer& recognizer, std::span<const std::string> inputs,
                         const RecognizeOptions& options) {
  std::vector<std::string> paths;
  std::vector<std::shared_ptr<arrow::Buffer>> buffers;
  std::vector<std::string> read_errors;
  for (const auto& input : inputs) {
    const Location location = ResolveLocation(input);
    paths.push_back(location.uri());
    try {
      buffers.push_back(ReadAll(location));
      read_errors.emplace_back();
    } catch (const InputError& e) {
      buffers.push_back(nullptr);
      read_errors.emplace_back(std::string("cannot read: ") + e.what());
    }
  }
  std::vector<std::span<const std::uint8_t>> images;
  for (const auto& buffer : buffers) {
    images.push_back(buffer ? std::span(buffer->data(), static_cast<std::size_t>(buffer->size()))
                            : std::span<const std::uint8_t>());
  }
  auto results = recognizer.Recognize(images, options);
  std::size_t failed = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!read_errors[i].empty()) {
      results[i] = Recognition{};
      results[i].error = read_errors[i];
    }
    failed += !results[i].ok();
    std::cout << ResultLine(paths[i], results[i]).dump() << "\n";
  }
  std::cout.flush();
  return failed;
}

int Predict(const PredictArguments& args) {
  Recognizer recognizer(Bundle::Load(args.bundle));
  std::cerr << recognizer.model().NotesText();
  const RecognizeOptions options{args.top_k, args.features};
  std::size_t failed = 0;
  const std::span<const std::string> inputs(args.inputs);
  for (std::size_t start = 0; start < inputs.size(); start += args.batch) {
    failed +=
        PredictBatch(recognizer, inputs.subspan(start, std::min(args.batch, inputs.size() - start)), options);
  }
  if (failed > 0) {
    std::cerr << "orchard: " << failed << " of " << inputs.size() << " inputs could not be recognised\n";
    return kExitPartialFailure;
  }
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterPredictCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "predict",
      "Recognise images with a bundle: one JSON line per input {path, label (null: unknown fruit), unknown, "
      "unknown_score, top_k[, features, pca]}.");
  auto args = std::make_shared<PredictArguments>();
  command->add_option("--bundle,-b", args->bundle, "Bundle folder written by `orchard train`")->required();
  command->add_option("inputs", args->inputs, "Image files (local paths or s3:// URIs)")->required();
  command->add_option("--top-k,-k", args->top_k, "Most probable labels to list")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  command->add_flag("--features", args->features, "Also print the CNN features and their PCA projection");
  command->add_option("--batch", args->batch, "Images per model call")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  return [args] { return Predict(*args); };
}

}  // namespace orchard::cli
