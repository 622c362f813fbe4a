#include "orchard/pipeline/resume.h"

#include <arrow/array.h>

#include <algorithm>
#include <cstdlib>

#include "orchard/common/error.h"
#include "orchard/pipeline/incremental.h"
#include "orchard/pipeline/output_guard.h"
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

const arrow::StringArray& PathColumn(const arrow::RecordBatch& batch, const Location& part) {
  const auto column = batch.GetColumnByName("path");
  if (!column || column->type_id() != arrow::Type::STRING) {
    throw IoError(part.uri() +
                  ": a complete Parquet file without a string column 'path'; not a part of "
                  "this job, so it is kept: remove it, or start afresh with --overwrite");
  }
  return static_cast<const arrow::StringArray&>(*column);
}

// Reads one staged part of an earlier attempt whole before keeping anything of it, so a part that turns out
// torn halfway through leaves no trace in `state`. Returns false (and deletes the part) only when the part
// was read and proved torn (InvalidParquetError: no footer). A part that cannot be checked because the
// storage fails is never deleted on that doubt: the IoError stops the job, and a later attempt checks it
// again. Parts are kept in the order of their names, so of two rows for one input the later attempt's stands.
bool KeepPart(const Location& part, ResumeState& state) {
  std::vector<std::pair<std::string, InputKey>> rows;
  CovarianceAccumulator stats(state.stats.dim());
  try {
    ReadParquetBatches(part, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
      const auto& column = PathColumn(*batch, part);
      const auto keys = InputKeyColumn(*batch);
      for (int64_t i = 0; i < column.length(); ++i) rows.emplace_back(column.GetString(i), keys[i]);
      stats.AddRows(FloatColumn(*batch, "features").values, static_cast<std::size_t>(batch->num_rows()));
    });
  } catch (const InvalidParquetError&) {
    ThrowIfError(part.fs->DeleteFile(part.path), part.uri());
    return false;
  } catch (const IoError& e) {
    throw IoError(std::string(e.what()) + " (while checking " + part.uri() +
                  ", a part of an earlier attempt; nothing was deleted)");
  }
  const int attempt = AttemptOf(part.name());
  for (auto& [path, key] : rows) {
    const auto [earlier, inserted] = state.done.try_emplace(std::move(path), StagedRow{key, attempt});
    // Of two rows in one attempt's parts (a repeated manifest line, before inputs were listed once) both
    // stay.
    if (inserted || earlier->second.attempt == attempt) continue;
    state.superseded[earlier->second.attempt].insert(earlier->first);
    earlier->second = {key, attempt};
  }
  state.rows_written += static_cast<std::int64_t>(rows.size());
  state.staged_parts.push_back(part);
  state.stats.Merge(stats);
  return true;
}

ResumeState Recover(const OutputLayout& output, std::size_t feature_dim) {
  ResumeState state(feature_dim);
  // Final parts of an interrupted PCA pass are written again from the staged parts.
  ThrowIfError(output.root.fs->DeleteDirContents(output.features().path, /*missing_dir_ok=*/true),
               output.features().uri());
  int last_attempt = -1;
  for (const auto& folder : {output.staging(), output.errors()}) {
    for (const auto& entry : ListFolder(folder)) {
      const Location part{folder.fs, entry.path()};
      if (!entry.IsFile() || AttemptOf(part.name()) < 0) continue;  // not a part of `orchard run`
      last_attempt = std::max(last_attempt, AttemptOf(part.name()));
      if (folder.path == output.staging().path) {
        KeepPart(part, state);
      } else {
        ThrowIfError(part.fs->DeleteFile(part.path), part.uri());  // its inputs are tried again
      }
    }
  }
  state.attempt = last_attempt + 1;
  state.resumed = true;
  return state;
}

// The identity an earlier attempt recorded. A torn or unreadable record is an IoError (exit 3) that says how
// to recover, never a parse error escaping as an internal one.
nlohmann::json RecordedIdentity(const OutputLayout& output) {
  const std::string recover =
      "; the job that wrote it was interrupted or the file was damaged: run again with --overwrite to start "
      "the job afresh (only orchard's own files are deleted)";
  try {
    return nlohmann::json::parse(ReadAll(output.job())->ToString());
  } catch (const nlohmann::json::exception& e) {
    throw IoError(output.job().uri() + ": not a valid job record (" + e.what() + ")" + recover);
  } catch (const InputError& e) {
    throw IoError(output.job().uri() + ": cannot be read (" + e.what() + ")" + recover);
  }
}

}  // namespace

nlohmann::json JobIdentity(const std::string& input_uri, const std::string& model_sha256,
                           const std::string& feature_tensor, const std::string& precision,
                           const nlohmann::json& preprocess, std::uint64_t max_pixels,
                           std::int64_t max_file_bytes) {
  return {{"input", input_uri},
          {"model_sha256", model_sha256},
          {"feature_tensor", feature_tensor},
          {"precision", precision},
          {"preprocess", preprocess},
          {"max_pixels", max_pixels},
          {"max_file_bytes", max_file_bytes}};
}

namespace {

// "max_pixels: 100000000 there, 5000 now; ...": the settings in which two job records differ.
std::string SettingsDifference(const nlohmann::json& recorded, const nlohmann::json& now) {
  std::string text;
  for (const auto& [key, value] : recorded.items()) {
    const auto current = now.find(key);
    if (current != now.end() && *current == value) continue;
    if (!text.empty()) text += "; ";
    text +=
        key + ": " + value.dump() + " there, " + (current == now.end() ? "none" : current->dump()) + " now";
  }
  for (const auto& [key, value] : now.items()) {
    if (!recorded.contains(key))
      text += (text.empty() ? "" : "; ") + key + ": none there, " + value.dump() + " now";
  }
  return text;
}

ResumeState PrepareLocked(const OutputLayout& output, const Location& input, const nlohmann::json& identity,
                          std::size_t feature_dim, const OverwritePolicy& policy, OutputLock& lock) {
  const auto type = GetEntryType(output.root);
  // Before anything is read or deleted; a missing folder is locked once created, below.
  if (type == EntryType::kDirectory) lock = OutputLock::Acquire(output.root);
  const bool empty = type == EntryType::kMissing || ListFolder(output.root).empty();
  if (!empty && policy.overwrite) {
    ClearOutput(output, input, policy.bucket_root);
  } else if (!empty) {
    const std::string where = "output " + output.root.uri();
    // What --overwrite would refuse (the input, files orchard did not write, no job record) is said first, so
    // that the advice below to pass --overwrite is never one that fails.
    CheckOverwrite(input.uri(), output.root.uri(), ListOutputEntries(output, output.root),
                   /*allow_bucket_root=*/true);
    const bool finished = GetEntryType(output.success()) == EntryType::kFile;
    if (finished && !policy.incremental) {
      throw UsageError(where +
                       " holds a finished job; pass --incremental to add the inputs that are new or changed "
                       "since, or --overwrite to replace it");
    }
    if (GetEntryType(output.job()) != EntryType::kFile) {
      throw UsageError(where +
                       " is not empty and holds no job of `orchard run` (no _job.json); pass "
                       "--overwrite to replace it");
    }
    const auto recorded = RecordedIdentity(output);
    if (recorded != identity) {
      throw UsageError(where + " holds " + (finished ? "a" : "an unfinished") + " job with other settings (" +
                       SettingsDifference(recorded, identity) + "); pass --overwrite to replace it");
    }
    CreateFolders(output);
    return finished ? PrepareUpdate(output, feature_dim) : Recover(output, feature_dim);
  }
  // A new output is checked against the input too: written inside it, orchard's own files would become inputs
  // of the next run over it (and --overwrite would then be refused).
  CheckOverwrite(input.uri(), output.root.uri(), {}, /*allow_bucket_root=*/true);
  // The job record first: it is what lets a later --overwrite delete what this job writes (output_guard.h).
  ThrowIfError(output.root.fs->CreateDir(output.root.path, /*recursive=*/true), output.root.uri());
  if (type != EntryType::kDirectory) lock = OutputLock::Acquire(output.root);
  WriteText(output.job(), identity.dump(2) + "\n");
  CreateFolders(output);
  return ResumeState(feature_dim);
}

}  // namespace

ResumeState PrepareAttempt(const OutputLayout& output, const Location& input, const nlohmann::json& identity,
                           std::size_t feature_dim, const OverwritePolicy& policy) {
  const auto type = GetEntryType(output.root);
  if (type == EntryType::kFile) throw UsageError("output " + output.root.uri() + " is a file, not a folder");
  OutputLock lock;
  ResumeState state = PrepareLocked(output, input, identity, feature_dim, policy, lock);
  state.lock = std::move(lock);
  return state;
}

std::unordered_map<std::string, InputKey> ListedKeys(const ResumeState& state) {
  std::unordered_map<std::string, InputKey> listed;
  for (const auto& record : state.listed) listed.emplace(record.path, record.key);
  return listed;
}

std::int64_t SettleEarlierRows(ResumeState& state) {
  if (state.done.empty()) return 0;  // a fresh job, or an update: no index of its listing needed
  const auto listed = ListedKeys(state);
  std::int64_t changed = 0;
  for (const auto& [path, row] : state.done) {
    const auto found = listed.find(path);
    if (found != listed.end() && found->second == row.key) continue;
    state.superseded[row.attempt].insert(path);
    ++changed;
  }
  for (const auto& [attempt, paths] : state.superseded) {
    std::vector<Location> parts;
    for (const auto& part : state.staged_parts) {
      if (AttemptOf(part.name()) == attempt) parts.push_back(part);
    }
    const auto moments = MomentsOf(parts, paths, state.stats.dim());
    state.stats.Subtract(moments);
    state.rows_written -= static_cast<std::int64_t>(moments.count());
  }
  return changed;
}

const PathSet* SupersededRows(const ResumeState& state, const Location& part) {
  const int attempt = AttemptOf(part.name());
  if (attempt >= state.attempt) return nullptr;
  const auto found = state.superseded.find(attempt);
  return found == state.superseded.end() ? nullptr : &found->second;
}

}  // namespace orchard
