#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/recognition/training.h"

namespace orchard::cli {
namespace {

struct TrainArguments {
  TrainOptions options;
  bool no_standardize = false;
};

int Train(const TrainArguments& args) {
  TrainOptions options = args.options;
  options.classifier.standardize = !args.no_standardize;
  const TrainResult result = TrainBundle(options, std::cerr);
  std::cout << std::fixed << std::setprecision(4) << "orchard: trained on " << result.rows << " images, "
            << result.labels << " labels; training accuracy " << result.training_accuracy << " -> "
            << options.bundle << "\n";
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterTrainCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "train",
      "Train a fruit classifier (liblinear logistic regression) on a run's PCA features; write a bundle.");
  auto args = std::make_shared<TrainArguments>();
  command
      ->add_option("output", args->options.output,
                   "Output folder of `orchard run` (features/, pca.parquet, _SUCCESS)")
      ->required();
  command
      ->add_option("--bundle,-b", args->options.bundle,
                   "Folder to write the bundle to (bundle.json, pca.parquet, classifier.liblinear)")
      ->required();
  command
      ->add_option("--split", args->options.split,
                   "Train on the rows whose path has this folder above the label folder "
                   "(<root>/<split>/<Label>/<file>)")
      ->capture_default_str();
  command
      ->add_option("--c", args->options.classifier.c,
                   "Inverse L2 regularisation strength of the logistic regression")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--no-standardize", args->no_standardize,
                    "Do not z-score the PCA features before the logistic regression");
  return [args] { return Train(*args); };
}

}  // namespace orchard::cli
