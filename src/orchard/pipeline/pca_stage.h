#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "orchard/pca/pca_model.h"
#include "orchard/storage/location.h"

namespace orchard {

// One part of pass two: the rows of `source` (a staged part, or a final part of the finished job that an
// incremental run updates) become the part `destination`.
struct PartCopy {
  Location source;
  Location destination;
};

// Paths of inputs whose rows are left out (deleted or replaced since the job an incremental run updates).
using PathSet = std::unordered_set<std::string>;

// Pass two of a run: reads each part's source batch by batch, leaves out the rows whose path is in `dropped`,
// sets the `pca` column from `pca` (replacing the one a source may have) and writes the destination, a part
// per core at a time. Without a `pca` (a job with too few rows for one, run_job.h) the parts have no `pca`
// column. A part whose rows were all dropped is not written. The sources stay until the job's _SUCCESS is
// written, so that an interruption here loses nothing. Returns the rows written to each part, in `parts`'
// order. The first failure stops the other parts and is rethrown.
std::vector<std::int64_t> WriteFeatureParts(std::span<const PartCopy> parts, const PcaModel* pca,
                                            const PathSet& dropped);

// The same for parts of error rows (path, stage, message), copied as they are.
std::vector<std::int64_t> WriteErrorParts(std::span<const PartCopy> parts, const PathSet& dropped);

}  // namespace orchard
