#include "orchard/pipeline/incremental.h"

#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_guard.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/input_inventory.h"
#include "orchard/table/moments_file.h"

namespace orchard {
namespace {

std::string WithAttempt(const std::string& stem, int attempt) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-a%03d", attempt);
  return stem + suffix + ".parquet";
}

std::vector<Location> Parts(const OutputLayout& output, const nlohmann::json& names) {
  std::vector<Location> parts;
  for (const auto& name : names) parts.push_back(output.root.child(name.get<std::string>()));
  return parts;
}

// Files a crashed update wrote (its parts, PCA, moments, inventory, staged parts) or the old files of an
// update that crashed after its _SUCCESS: everything of orchard's that _SUCCESS does not list.
// A listed file that is missing (a _SUCCESS restored from a backup, or written by a process that raced
// another) stops the update before anything is deleted: the unlisted files may be the only good copy of the
// rows.
void DeleteUnlisted(const OutputLayout& output, const nlohmann::json& manifest) {
  const auto entries = ListOutputEntries(output, output.root);
  const std::unordered_set<std::string> present(entries.begin(), entries.end());
  std::unordered_set<std::string> keep = {output.success().name(), output.job().name()};
  for (auto& name : ListedFiles(manifest)) {
    // A listed folder ("features") is no file either: it would keep nothing, and every part would go.
    if (!present.contains(name) || GetEntryType(output.root.child(name)) != EntryType::kFile) {
      throw IoError(output.success().uri() + " lists " + name +
                    ", which is missing or no file; nothing was deleted (restore it, or replace the output "
                    "with --overwrite)");
    }
    keep.insert(std::move(name));
  }
  for (const auto& entry : entries) {
    const Location location = output.root.child(entry);
    if (keep.contains(entry) || GetEntryType(location) != EntryType::kFile) continue;
    ThrowIfError(location.fs->DeleteFile(location.path), location.uri());
  }
}

}  // namespace

std::vector<std::string> ListedFiles(const nlohmann::json& manifest) {
  std::vector<std::string> names;
  for (const auto& [kind, listed] : manifest.at("files").items()) {
    if (listed.is_string()) names.push_back(listed.get<std::string>());
    if (!listed.is_array()) continue;  // null: no such file (a job without a PCA)
    for (const auto& name : listed) names.push_back(name.get<std::string>());
  }
  return names;
}

ResumeState PrepareUpdate(const OutputLayout& output, std::size_t feature_dim) {
  const auto manifest = ReadRunManifest(output);
  try {
    const auto& files = manifest.at("files");
    if (!files.contains("inputs") || !files.contains("pca_moments")) {
      throw UsageError("output " + output.root.uri() +
                       " holds a job finished by an older orchard, which kept no input inventory for "
                       "--incremental; replace it once with --overwrite");
    }
    DeleteUnlisted(output, manifest);
    ResumeState state(feature_dim);
    state.attempt = manifest.at("attempt").at("number").get<int>() + 1;
    state.previous =
        PreviousJob{manifest, Parts(output, files.at("features")), Parts(output, files.at("errors")),
                    ReadInputInventory(output.root.child(files.at("inputs").get<std::string>())),
                    ReadMoments(output.root.child(files.at("pca_moments").get<std::string>()), feature_dim)};
    state.previous->failed = PathsIn(state.previous->error_parts);
    for (const auto& path : state.previous->failed) state.previous->inputs.erase(path);
    return state;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(output.success().uri() + ": not a manifest of `orchard run` (" + e.what() + ")");
  }
}

CarriedRows CarryPrevious(const ResumeState& state, std::size_t feature_dim) {
  CarriedRows carried{{}, CovarianceAccumulator(feature_dim), nlohmann::json::object()};
  if (!state.previous) return carried;
  const PreviousJob& previous = *state.previous;
  const auto listed = ListedKeys(state);
  std::int64_t unchanged = 0, replaced = 0, removed = 0, retried = 0;
  for (const auto& path : previous.failed) {
    ++(listed.contains(path) ? retried : removed);
    carried.dropped.insert(path);
  }
  for (const auto& [path, key] : previous.inputs) {
    const auto found = listed.find(path);
    if (found != listed.end() && found->second == key) {
      ++unchanged;
      continue;
    }
    ++(found == listed.end() ? removed : replaced);
    carried.dropped.insert(path);
  }
  carried.moments = previous.moments;
  if (!carried.dropped.empty())
    carried.moments.Subtract(MomentsOf(previous.feature_parts, carried.dropped, feature_dim));
  carried.changes = {{"previous_attempt", previous.manifest.at("attempt").at("number")},
                     {"unchanged", unchanged},
                     {"new", static_cast<std::int64_t>(listed.size()) - unchanged - replaced - retried},
                     {"replaced", replaced},
                     {"retried", retried},
                     {"removed", removed}};
  return carried;
}

CommitFiles CommitFilesOf(const ResumeState& state) {
  if (!state.previous) return {"pca.parquet", "pca_moments.parquet", "inputs.parquet"};
  return {WithAttempt("pca", state.attempt), WithAttempt("pca_moments", state.attempt),
          WithAttempt("inputs", state.attempt)};
}

std::vector<PartCopy> CarriedParts(const std::vector<Location>& previous, const Location& folder, int attempt,
                                   const PathSet& dropped) {
  std::vector<PartCopy> parts;
  for (std::size_t i = 0; i < previous.size(); ++i) {
    char name[48];
    std::snprintf(name, sizeof name, "part-a%03d-r%05zu.parquet", attempt, i);
    parts.push_back({previous[i], folder.child(name), &dropped});
  }
  return parts;
}

void DeleteReplacedFiles(const OutputLayout& output, const nlohmann::json& previous,
                         const nlohmann::json& manifest) {
  const auto current = ListedFiles(manifest);
  const std::unordered_set<std::string> keep(current.begin(), current.end());
  for (const auto& name : ListedFiles(previous)) {
    const Location location = output.root.child(name);
    if (keep.contains(name) || GetEntryType(location) != EntryType::kFile) continue;
    ThrowIfError(location.fs->DeleteFile(location.path), location.uri());
  }
}

}  // namespace orchard
