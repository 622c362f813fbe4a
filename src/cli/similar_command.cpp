#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/search/similar.h"

namespace orchard::cli {

CommandAction RegisterSimilarCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("similar",
                         "The k indexed images most similar to each image: one JSON line per image "
                         "with path, label and cosine distance.");
  auto args = std::make_shared<SimilarOptions>();
  command->add_option("--index", args->index, "Output of `orchard run` indexed by `orchard index`")
      ->required();
  command->add_option("images", args->images, "Image paths or URIs")->required();
  command->add_option("--k", args->k, "Similar images per query")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  return
      [args] { return WriteSimilar(*args, std::cout, std::cerr) > 0 ? kExitPartialFailure : kExitSuccess; };
}

}  // namespace orchard::cli
