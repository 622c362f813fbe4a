#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/recognition/run_evaluation.h"

namespace orchard::cli {
namespace {

// ", leakage-free top-1 X on N images (M with a near-duplicate in Training left out)", or why there is none.
std::string LeakageFreeText(const nlohmann::json& figures) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(4);
  if (figures.contains("skipped")) {
    text << "; no leakage-free figure (" << figures.at("skipped").get<std::string>() << ")";
  } else if (figures.at("top1").is_null()) {
    text << "; no leakage-free figure (every image has a near-duplicate in "
         << figures.at("reference_split").get<std::string>() << ")";
  } else {
    text << ", leakage-free top-1 " << figures.at("top1").get<double>() << " on "
         << figures.at("n").get<std::int64_t>() << " images (" << figures.at("leaked").get<std::int64_t>()
         << " with a near-duplicate in " << figures.at("reference_split").get<std::string>() << " left out)";
  }
  return text.str();
}

int Eval(const EvaluateOptions& options) {
  const nlohmann::json metrics = EvaluateBundle(options, std::cerr);
  const std::filesystem::path report(options.report);
  std::cout << std::fixed << std::setprecision(4) << "orchard: " << metrics.at("n").get<std::int64_t>()
            << " images of split '" << options.split << "': top-1 " << metrics.at("top1").get<double>()
            << ", top-5 " << metrics.at("top5").get<double>() << LeakageFreeText(metrics.at("leakage_free"))
            << " -> " << (report / "metrics.json").string() << ", " << (report / "report.html").string()
            << "\n";
  if (metrics.contains("open_set")) {
    const auto& open_set = metrics.at("open_set");
    std::cout << "orchard: unknown fruit (score > " << open_set.at("threshold").get<double>()
              << "): " << open_set.at("known").at("reject_rate").get<double>()
              << " of known-label images rejected";
    if (!open_set.at("auroc").is_null()) {
      std::cout << ", " << open_set.at("unknown").at("reject_rate").get<double>()
                << " of unknown-label images rejected, AUROC " << open_set.at("auroc").get<double>();
    }
    std::cout << "\n";
  }
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterEvalCommand(CLI::App& app) {
  auto* command = app.add_subcommand("eval",
                                     "Evaluate a bundle on a run's split: top-1/top-5, per-class figures, "
                                     "confusion; metrics.json + report.html.");
  auto args = std::make_shared<EvaluateOptions>();
  command
      ->add_option("output", args->output, "Output folder of `orchard run` with the same model as the bundle")
      ->required();
  command->add_option("--bundle,-b", args->bundle, "Bundle folder written by `orchard train`")->required();
  command->add_option("--report,-r", args->report, "Folder to write metrics.json and report.html to")
      ->required();
  command
      ->add_option("--split", args->split,
                   "Evaluate the rows whose path has this folder above the label folder")
      ->capture_default_str();
  return [args] { return Eval(*args); };
}

}  // namespace orchard::cli
