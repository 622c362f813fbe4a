#include "orchard/pipeline/resume.h"

#include <arrow/array.h>

#include <algorithm>
#include <cstdlib>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

std::vector<arrow::fs::FileInfo> ListFolder(const Location& folder) {
  arrow::fs::FileSelector selector;
  selector.base_dir = folder.path;
  selector.allow_not_found = true;
  auto entries = ValueOrThrow(folder.fs->GetFileInfo(selector), folder.uri());
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return entries;
}

// Attempt number from a name "part-a<attempt>-…" or "part-a<attempt>.parquet"; -1 for other names.
int AttemptOf(const std::string& name) {
  if (name.rfind("part-a", 0) != 0) return -1;
  return std::atoi(name.c_str() + 6);
}

void CreateFolders(const OutputLayout& output) {
  for (const auto& folder : {output.root, output.staging(), output.errors(), output.features()}) {
    ThrowIfError(folder.fs->CreateDir(folder.path, /*recursive=*/true), folder.uri());
  }
}

// Reads one part of an earlier attempt whole before keeping anything of it, so a part that turns out torn
// halfway through leaves no trace in `state`. Returns false (and deletes the part) when it is torn.
bool KeepPart(const Location& part, bool has_features, ResumeState& state) {
  std::vector<std::string> paths;
  CovarianceAccumulator stats(state.stats.dim());
  try {
    ReadParquetBatches(part, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
      const auto& column = static_cast<const arrow::StringArray&>(*batch->GetColumnByName("path"));
      for (int64_t i = 0; i < column.length(); ++i) paths.push_back(column.GetString(i));
      if (has_features) {
        stats.AddRows(FloatColumn(*batch, "features").values, static_cast<std::size_t>(batch->num_rows()));
      }
    });
  } catch (const IoError&) {
    ThrowIfError(part.fs->DeleteFile(part.path), part.uri());
    return false;
  }
  const auto rows = static_cast<std::int64_t>(paths.size());
  (has_features ? state.rows_written : state.rows_failed) += rows;
  (has_features ? state.staged_parts : state.error_parts).push_back(part);
  if (has_features) state.stats.Merge(stats);
  state.done.insert(std::make_move_iterator(paths.begin()), std::make_move_iterator(paths.end()));
  return true;
}

ResumeState Recover(const OutputLayout& output, std::size_t feature_dim) {
  ResumeState state(feature_dim);
  // Final parts of an interrupted PCA pass are written again from the staged parts.
  ThrowIfError(output.root.fs->DeleteDirContents(output.features().path, /*missing_dir_ok=*/true),
               output.features().uri());
  int last_attempt = -1;
  for (const auto& [folder, has_features] : {std::pair{output.staging(), true}, {output.errors(), false}}) {
    for (const auto& entry : ListFolder(folder)) {
      const Location part{folder.fs, entry.path()};
      last_attempt = std::max(last_attempt, AttemptOf(part.name()));
      KeepPart(part, has_features, state);
    }
  }
  state.attempt = last_attempt + 1;
  state.resumed = true;
  return state;
}

}  // namespace

nlohmann::json JobIdentity(const std::string& input_uri, const std::string& model_sha256,
                           const std::string& feature_tensor, const std::string& precision,
                           const nlohmann::json& preprocess, std::uint64_t max_pixels) {
  return {{"input", input_uri},     {"model_sha256", model_sha256}, {"feature_tensor", feature_tensor},
          {"precision", precision}, {"preprocess", preprocess},     {"max_pixels", max_pixels}};
}

ResumeState PrepareAttempt(const OutputLayout& output, const nlohmann::json& identity,
                           std::size_t feature_dim, bool overwrite) {
  const auto type = GetEntryType(output.root);
  if (type == EntryType::kFile) throw UsageError("output " + output.root.uri() + " is a file, not a folder");
  const bool empty = type == EntryType::kMissing || ListFolder(output.root).empty();
  if (!empty && overwrite) {
    ThrowIfError(output.root.fs->DeleteDirContents(output.root.path), output.root.uri());
  } else if (!empty) {
    const std::string where = "output " + output.root.uri();
    if (GetEntryType(output.success()) == EntryType::kFile) {
      throw UsageError(where + " holds a finished job; pass --overwrite to replace it");
    }
    if (GetEntryType(output.job()) != EntryType::kFile) {
      throw UsageError(where + " is not empty and holds no orchard job; pass --overwrite to replace it");
    }
    const auto recorded = nlohmann::json::parse(ReadAll(output.job())->ToString());
    if (recorded != identity) {
      throw UsageError(where + " holds an unfinished job with other settings (" + recorded.dump() +
                       "); pass --overwrite to replace it");
    }
    CreateFolders(output);
    return Recover(output, feature_dim);
  }
  CreateFolders(output);
  WriteText(output.job(), identity.dump(2) + "\n");
  return ResumeState(feature_dim);
}

}  // namespace orchard
