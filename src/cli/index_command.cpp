#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/index/output_index.h"

namespace orchard::cli {

CommandAction RegisterIndexCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "index",
      "Build the exact cosine nearest-neighbour index (Faiss) of a run's output into it (index.faiss).");
  auto args = std::make_shared<IndexOptions>();
  command->add_option("output", args->output, "Output folder of `orchard run`")->required();
  command->add_option("--column", args->column, "Vector column to index")
      ->check(CLI::IsMember({"features", "pca"}))
      ->capture_default_str();
  return [args] {
    BuildOutputIndex(*args, std::cerr);
    return kExitSuccess;
  };
}

}  // namespace orchard::cli
