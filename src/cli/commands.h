#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace orchard::cli {

// A subcommand adds itself to the app with its options, and returns the action that runs it once parsed.
// The action returns an exit code (exit_codes.h) and may throw orchard's error types, which main() maps.
using CommandAction = std::function<int()>;

CommandAction RegisterRunCommand(CLI::App& app);
CommandAction RegisterInspectCommand(CLI::App& app);
CommandAction RegisterPreprocessCommand(CLI::App& app);
CommandAction RegisterExportModelCommand(CLI::App& app);
CommandAction RegisterTrainCommand(CLI::App& app);
CommandAction RegisterEvalCommand(CLI::App& app);
CommandAction RegisterPredictCommand(CLI::App& app);
CommandAction RegisterServeCommand(CLI::App& app);
CommandAction RegisterDescribeModelCommand(CLI::App& app);
CommandAction RegisterIndexCommand(CLI::App& app);
CommandAction RegisterAuditCommand(CLI::App& app);
CommandAction RegisterSimilarCommand(CLI::App& app);

}  // namespace orchard::cli
