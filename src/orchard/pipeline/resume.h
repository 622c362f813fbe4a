#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/output_lock.h"
#include "orchard/pipeline/pca_stage.h"
#include "orchard/table/input_inventory.h"

namespace orchard {

// What earlier, interrupted attempts of a job left in its output folder, and can be kept.
// Each attempt writes its staged feature parts and its error rows under names of its own, and a part is
// complete only once its Parquet footer is written: a part torn by a crash has no footer, so it is deleted
// and its inputs are done again. A part that cannot be read for any other reason is never deleted.
// A staged row keeps the key (size, modification time) of the bytes it was computed from, and is kept only
// while the input still has that key: an input replaced while the job was interrupted is featurised again and
// the row of a deleted one is dropped (SettleEarlierRows). Error rows carry no key: the error parts of
// earlier attempts are deleted and their inputs tried again (there are few, and the bad file may have been
// fixed meanwhile).
// The finished job that `orchard run --incremental` updates (incremental.h): the files its _SUCCESS lists,
// which stay readable until this attempt's _SUCCESS replaces it, and what it recorded for the update.
struct PreviousJob {
  nlohmann::json manifest;
  std::vector<Location> feature_parts;
  std::vector<Location> error_parts;
  std::unordered_map<std::string, InputKey> inputs;  // path -> key of the bytes its rows came from
  CovarianceAccumulator moments;                     // of all its feature rows
  // The inputs that became its error rows, left out of `inputs`: an update tries them again whatever their
  // key, as a resume does (a file made readable, or a format a newer orchard decodes, keeps its key).
  PathSet failed = {};
};

// The row an earlier attempt staged for an input: the key of the bytes it came from, and that attempt.
struct StagedRow {
  InputKey key;
  int attempt = 0;
};

struct ResumeState {
  int attempt = 0;       // number of this attempt, for its file names
  bool resumed = false;  // an unfinished job with the same identity was found
  std::vector<Location> staged_parts;
  std::vector<Location> error_parts;
  // Input path (as written in the rows) -> the latest row earlier attempts staged for it.
  std::unordered_map<std::string, StagedRow> done;
  // Attempt -> paths whose row that attempt staged is not kept: a later attempt staged the input again, or it
  // was replaced or deleted since (SettleEarlierRows).
  std::unordered_map<int, PathSet> superseded;
  CovarianceAccumulator stats;
  std::int64_t rows_written = 0;
  std::int64_t rows_failed = 0;
  std::vector<InputRecord> listed;      // every input this attempt listed, with its key: the next inventory
  std::optional<PreviousJob> previous;  // set when this attempt updates a finished job
  OutputLock lock;                      // on the output folder, for as long as the attempt lives

  explicit ResumeState(std::size_t feature_dim) : stats(feature_dim) {}
};

// The settings that decide the staged results; a job resumes only when they are the same.
nlohmann::json JobIdentity(const std::string& input_uri, const std::string& model_sha256,
                           const std::string& feature_tensor, const std::string& precision,
                           const nlohmann::json& preprocess, std::uint64_t max_pixels,
                           std::int64_t max_file_bytes);

// What may be replaced: `overwrite` (--overwrite) replaces orchard's files in a non-empty output, and
// `bucket_root` (--overwrite-bucket-root) allows that in a whole bucket (output_guard.h).
// `incremental` (--incremental) updates an output that holds a finished job of the same identity
// (incremental.h) instead of refusing it.
struct OverwritePolicy {
  bool overwrite = false;
  bool bucket_root = false;
  bool incremental = false;
};

// Makes `output` ready for this attempt: locks it (OutputLock; UsageError when another process runs a job
// there) before anything is read or deleted, and creates it, or recognises an unfinished job with the same
// identity and recovers it, or (policy.incremental) a finished job with the same identity to update, or
// refuses (UsageError) a folder holding anything else unless `policy.overwrite` is set; then ClearOutput()
// (output_guard.h) deletes orchard's files only, after refusing an output that overlaps `input`, a bucket
// root or a folder holding anything orchard did not write. Resuming refuses such a folder too, and deletes
// only parts proved torn; a storage failure while checking a part is an IoError (nothing deleted), and so is
// a torn or unparsable _job.json. Records the identity in the folder (atomically).
ResumeState PrepareAttempt(const OutputLayout& output, const Location& input, const nlohmann::json& identity,
                           std::size_t feature_dim, const OverwritePolicy& policy);

// Path -> key of every input this attempt listed (state.listed), to compare with what earlier attempts or
// the finished job hold.
std::unordered_map<std::string, InputKey> ListedKeys(const ResumeState& state);

// Once this attempt has listed every input (state.listed, keyed): the rows earlier attempts staged for inputs
// that are gone or whose key changed since (and which this attempt therefore did again) join
// state.superseded, and every superseded row's moments and count are taken from state.stats and
// state.rows_written. Returns the number of inputs replaced or deleted since. Throws IoError naming a staged
// part that cannot be read.
std::int64_t SettleEarlierRows(ResumeState& state);

// The rows of the staged part `part` that pass two leaves out (PartCopy::dropped): nullptr for a part of this
// attempt, or of an attempt none of whose rows are superseded.
const PathSet* SupersededRows(const ResumeState& state, const Location& part);

}  // namespace orchard
