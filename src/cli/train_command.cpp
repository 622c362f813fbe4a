#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/option_checks.h"
#include "orchard/recognition/training.h"

namespace orchard::cli {
namespace {

struct TrainArguments {
  TrainOptions options;
  bool no_standardize = false;
  std::string solver = "primal";
};

int Train(const TrainArguments& args) {
  TrainOptions options = args.options;
  options.classifier.standardize = !args.no_standardize;
  options.classifier.solver = ParseLogisticSolver(args.solver);
  if (options.c_candidates.size() == 1) options.classifier.c = options.c_candidates.front();
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
      "Train a fruit classifier (liblinear logistic regression) on a run's features; write a bundle.");
  auto args = std::make_shared<TrainArguments>();
  command
      ->add_option("output", args->options.output,
                   "Output folder of `orchard run` (features/, pca.parquet, _SUCCESS)")
      ->required();
  command
      ->add_option("--bundle,-b", args->options.bundle,
                   "Folder to write the bundle to (bundle.json, pca.parquet, classifier.liblinear, "
                   "open_set.parquet)")
      ->required();
  command
      ->add_option("--split", args->options.split,
                   "Train on the rows whose path has this folder above the label folder "
                   "(<root>/<split>/<Label>/<file>)")
      ->capture_default_str();
  command
      ->add_option("--input", args->options.input,
                   "What the classifier reads: features (the CNN's) or pca (the run's projection)")
      ->check(CLI::IsMember({"features", "pca"}))
      ->capture_default_str();
  command
      ->add_option("--c", args->options.c_candidates,
                   "Inverse L2 regularisation strength; several values (comma-separated): chosen by "
                   "cross-validation on the split")
      ->delimiter(',')
      ->check(NumberGreaterThan(0.0))
      ->check(NumberBetween(0.0, 1e6))  // C = 1e308 trained an all-zero classifier, inf never ended
      ->capture_default_str();
  command
      ->add_option(
          "--cv-folds", args->options.cv_folds,
          "Folds (contiguous frames of each label) of the cross-validation that chooses C and of the "
          "unknown-fruit threshold's calibration")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  command->add_option("--solver", args->solver, "liblinear's logistic regression solver: primal or dual")
      ->check(CLI::IsMember({"primal", "dual"}))
      ->capture_default_str();
  command->add_option(
      "--exclude-label", args->options.exclude_labels,
      "Leave this label's rows out (repeatable): e.g. to measure the unknown-fruit threshold on "
      "fruit the bundle never saw");
  command
      ->add_option("--unknown-quantile", args->options.open_set.quantile,
                   "Unknown-fruit threshold: this quantile of the out-of-fold scores of the training rows")
      ->check(NumberBetween(0.5, 1.0))
      ->capture_default_str();
  command->add_flag("--l2-normalize", args->options.classifier.l2_normalize,
                    "Scale each row to unit length before the z-score");
  command->add_flag("--balanced", args->options.classifier.balanced,
                    "Weight each label's rows inversely to its count");
  command->add_flag("--no-standardize", args->no_standardize,
                    "Do not z-score the features before the logistic regression");
  return [args] { return Train(*args); };
}

}  // namespace orchard::cli
