#include "orchard/audit/audit.h"

#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "orchard/audit/audit_report.h"
#include "orchard/audit/exact_duplicates.h"
#include "orchard/common/error.h"
#include "orchard/index/output_index.h"
#include "orchard/pipeline/output_guard.h"

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Written so that NaN fails every check (a comparison with NaN is false), and a negative count, which CLI11
// wraps to a huge unsigned one, fails the upper bound.
void CheckSettings(const AuditSettings& settings) {
  for (const auto& [name, k] : {std::pair{"--k", settings.k}, std::pair{"--outlier-k", settings.outlier_k}})
    if (!(k >= 1 && k <= kMaxAuditNeighbours))
      throw UsageError(std::string("audit: ") + name + " must be from 1 to " +
                       std::to_string(kMaxAuditNeighbours));
  if (!(settings.near_duplicate_cosine > 0.0 && settings.near_duplicate_cosine <= 1.0))
    throw UsageError("audit: --near-duplicate-cosine must be in (0, 1]");
  if (!(settings.outlier_z > 0.0 && std::isfinite(settings.outlier_z)))
    throw UsageError("audit: --outlier-z must be a positive number");
  if (settings.train_split == settings.test_split)
    throw UsageError("audit: --train-split and --test-split are both '" + settings.train_split +
                     "': every test image would leak into itself");
}

// Similarity of every image to its nearest other image, in 0.01 bins: where the near-duplicate threshold
// sits in this data.
nlohmann::json NearestHistogram(const std::vector<std::vector<Neighbour>>& graph) {
  std::map<int, std::int64_t> bins;
  for (const auto& neighbours : graph) {
    if (!neighbours.empty()) ++bins[static_cast<int>(std::floor(neighbours.front().similarity * 100.0f))];
  }
  nlohmann::json points = nlohmann::json::array();
  for (const auto& [bin, count] : bins) points.push_back({{"similarity", bin / 100.0}, {"images", count}});
  return points;
}

void WriteJson(const std::filesystem::path& file, const nlohmann::json& json) {
  WriteText(ResolveLocation(file.string()), json.dump(2) + "\n");
}

}  // namespace

nlohmann::json AuditOutput(const AuditOptions& options, std::ostream& log) {
  CheckSettings(options.settings);
  const auto start = Clock::now();
  const OutputLayout layout{ResolveLocation(options.output)};
  static constexpr std::array<std::string_view, 3> kKeys = {"near_duplicates", "label_issues", "summary"};
  CheckReportFolder(options.report, layout.root.uri(), {"audit.json", "audit.html", kKeys});
  const nlohmann::json manifest = ReadRunManifest(layout);
  const CosineIndex index = ReadOutputIndex(layout, manifest, "features");
  nlohmann::json timings;
  timings["read_seconds"] = SecondsSince(start);
  auto stage = Clock::now();
  const auto graph = NeighbourGraph(index, options.settings.k);
  timings["neighbours_seconds"] = SecondsSince(stage);
  stage = Clock::now();
  nlohmann::json audit = {
      {"output", layout.root.uri()},
      {"rows", index.size()},
      {"dim", index.dim()},
      {"settings",
       {{"near_duplicate_cosine", options.settings.near_duplicate_cosine},
        {"k", options.settings.k},
        {"outlier_k", options.settings.outlier_k},
        {"outlier_z", options.settings.outlier_z}}},
      {"nearest_similarity_histogram", NearestHistogram(graph)},
      {"exact_duplicates", ExactDuplicateGroups(index)},
      {"near_duplicates", NearDuplicateGroups(index, graph, options.settings.near_duplicate_cosine)},
      {"cross_split", CrossSplit(index, options.settings)},
      {"outliers", Outliers(index, options.settings)},
      {"label_issues", LabelIssues(index, graph)},
      {"label_names", LabelNameClashes(index)}};
  timings["sections_seconds"] = SecondsSince(stage);
  if (audit["cross_split"].contains("skipped"))
    log << "orchard: audit: " << audit["cross_split"]["skipped"].get<std::string>() << "\n";
  // Inputs that became error rows have no features to audit: said, so that "nothing found" is not read as
  // covering them.
  const std::int64_t failed = manifest.at("counts").value("failed", std::int64_t{0});
  audit["summary"] = {{"not_audited_error_rows", failed},
                      {"exact_duplicate_groups", audit["exact_duplicates"].size()},
                      {"near_duplicate_groups", audit["near_duplicates"].size()},
                      {"leaked_test_images", audit["cross_split"]["leaked"]},
                      {"outliers", audit["outliers"].size()},
                      {"label_issues", audit["label_issues"].size()},
                      {"label_name_clashes", audit["label_names"].size()}};
  stage = Clock::now();
  std::error_code error;
  std::filesystem::create_directories(options.report, error);
  if (error) throw IoError(options.report + ": " + error.message());
  const std::filesystem::path dir(options.report);
  WriteAuditReport(dir, audit);
  timings["report_seconds"] = SecondsSince(stage);
  timings["total_seconds"] = SecondsSince(start);
  audit["timings"] = timings;
  WriteJson(dir / "audit.json", audit);
  if (failed > 0)
    log << "orchard: audit: " << failed << " inputs are error rows (errors/) with no features, not audited\n";
  log << "orchard: audited " << index.size() << " images in " << timings["total_seconds"].get<double>()
      << " s\n";
  return audit;
}

}  // namespace orchard
