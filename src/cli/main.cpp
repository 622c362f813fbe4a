#include <exception>
#include <iostream>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/common/error.h"

namespace {

constexpr const char* kExitCodeHelp =
    "Exit codes: 0 success, 1 internal error, 2 usage error, 3 I/O or model failure, "
    "4 partial failure (some inputs became error rows), 130 interrupted.";

int RunAction(const orchard::cli::CommandAction& action) {
  using namespace orchard::cli;
  try {
    return action();
  } catch (const orchard::UsageError& e) {
    std::cerr << "orchard: usage error: " << e.what() << "\n";
    return kExitUsageError;
  } catch (const orchard::IoError& e) {
    std::cerr << "orchard: I/O error: " << e.what() << "\n";
    return kExitIoError;
  } catch (const orchard::InputError& e) {
    std::cerr << "orchard: input error: " << e.what() << "\n";
    return kExitIoError;
  } catch (const orchard::ModelError& e) {
    std::cerr << "orchard: model error: " << e.what() << "\n";
    return kExitIoError;
  } catch (const std::exception& e) {
    std::cerr << "orchard: internal error: " << e.what() << "\n";
    return kExitInternalError;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orchard::cli;
  CLI::App app{"orchard: image feature extraction and fruit recognition"};
  app.footer(kExitCodeHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", ORCHARD_VERSION);

  std::vector<std::pair<CLI::App*, CommandAction>> commands;
  auto add = [&](CommandAction (*registration)(CLI::App&)) {
    auto action = registration(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(action));
  };
  add(RegisterRunCommand);
  add(RegisterInspectCommand);
  add(RegisterPreprocessCommand);
  add(RegisterDescribeModelCommand);
  add(RegisterExportModelCommand);
  add(RegisterTrainCommand);
  add(RegisterEvalCommand);
  add(RegisterPredictCommand);
  add(RegisterServeCommand);
  add(RegisterIndexCommand);
  add(RegisterAuditCommand);
  add(RegisterSimilarCommand);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitSuccess : kExitUsageError;
  }
  for (auto& [subcommand, action] : commands) {
    if (subcommand->parsed()) return RunAction(action);
  }
  return kExitUsageError;
}
