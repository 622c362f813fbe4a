#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/pca_stage.h"
#include "orchard/pipeline/resume.h"

namespace orchard {

// `orchard run --incremental` updates an output that holds a finished job (README, "Incremental runs"):
//  - every job records its inputs' keys (InputKey: size and modification time) in an inventory and the
//    streaming covariance of its feature rows (moments_file.h), both listed by _SUCCESS;
//  - an update featurises only the inputs that are new or whose key changed; the rows of inputs deleted or
//    replaced since are dropped; the PCA is refitted exactly from the stored moments, minus the dropped
//    rows', plus the new rows' (the old features are read only to find the dropped rows' moments, and to
//    write them again with the new `pca` column);
//  - every file of the update has a name of its own attempt, and its _SUCCESS (written atomically) switches
//    readers from the old files to the new ones at once; the old files are deleted only after it. A crash
//    before leaves the old job readable, and what the crashed update wrote is deleted by the next one.

// Prepares the update of the finished job in `output`, whose identity (_job.json) the caller has checked:
// deletes what a crashed update left (any file orchard wrote that _SUCCESS does not list), reads what the job
// recorded, and returns the state of the new attempt (numbered after the job's last) with `previous` set.
// Throws UsageError when the job has no input inventory (written by an older orchard), IoError when its files
// cannot be read.
ResumeState PrepareUpdate(const OutputLayout& output, std::size_t feature_dim);

// What the finished job contributes to the update, once the update has listed its inputs (state.listed).
struct CarriedRows {
  PathSet dropped;                // inputs of the job deleted or replaced since
  CovarianceAccumulator moments;  // of the job's feature rows that are kept
  nlohmann::json changes;         // counts of unchanged, new, replaced and removed inputs
};

// For a fresh (not incremental) job: nothing dropped, empty moments, no changes. Throws IoError when a part
// of the job cannot be read.
CarriedRows CarryPrevious(const ResumeState& state, std::size_t feature_dim);

// The files of an attempt that _SUCCESS lists besides the parts: PCA model, moments and input inventory.
// A fresh job's are pca.parquet, pca_moments.parquet and inputs.parquet; an update's carry its attempt
// (pca-a001.parquet...), so that the finished job's stay intact until the update's _SUCCESS is written.
struct CommitFiles {
  std::string pca;
  std::string moments;
  std::string inputs;
};
CommitFiles CommitFilesOf(const ResumeState& state);

// The parts an update writes in `folder` from the finished job's parts `previous`, without the rows of
// `dropped` (which outlives them).
std::vector<PartCopy> CarriedParts(const std::vector<Location>& previous, const Location& folder, int attempt,
                                   const PathSet& dropped);

// Every file a _SUCCESS manifest lists under "files" (parts, PCA, moments, inventory, and the index that
// `orchard index` adds), relative to the output root.
std::vector<std::string> ListedFiles(const nlohmann::json& manifest);

// After an update's _SUCCESS: deletes the files the finished job's manifest listed that `manifest` does not
// (also an index of `orchard index`, built over the old rows: it is run again on the updated output).
void DeleteReplacedFiles(const OutputLayout& output, const nlohmann::json& previous,
                         const nlohmann::json& manifest);

}  // namespace orchard
