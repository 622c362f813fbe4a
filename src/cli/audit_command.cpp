#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/audit/audit.h"

namespace orchard::cli {

CommandAction RegisterAuditCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("audit",
                         "Audit a run's output: near-duplicates, train/test leakage, outliers, label "
                         "issues (docs/audit.md); audit.json + audit.html.");
  auto args = std::make_shared<AuditOptions>();
  auto& s = args->settings;
  command->add_option("output", args->output, "Output folder of `orchard run`")->required();
  command->add_option("--report,-r", args->report, "Folder to write audit.json and audit.html to")
      ->required();
  command
      ->add_option("--near-duplicate-cosine", s.near_duplicate_cosine,
                   "Cosine similarity of the features at which two images are near-duplicates")
      ->capture_default_str();
  command->add_option("--k", s.k, "Neighbours per image voting for the k-NN label probabilities")
      ->capture_default_str();
  command->add_option("--outlier-k", s.outlier_k, "Same-label neighbours averaged for the outlier distance")
      ->capture_default_str();
  command
      ->add_option("--outlier-z", s.outlier_z,
                   "Robust z-score within the label from which an image is an outlier")
      ->capture_default_str();
  command->add_option("--train-split", s.train_split, "Training split (folder above the label folder)")
      ->capture_default_str();
  command->add_option("--test-split", s.test_split, "Test split")->capture_default_str();
  return [args] {
    AuditOutput(*args, std::cerr);
    return kExitSuccess;
  };
}

}  // namespace orchard::cli
