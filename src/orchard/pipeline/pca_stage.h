#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pca/pca_model.h"
#include "orchard/storage/location.h"

namespace orchard {

// Paths of inputs whose rows are left out: deleted or replaced since the job an incremental run updates, or
// since the earlier attempt of a resumed job that staged them.
using PathSet = std::unordered_set<std::string>;

// One part of pass two: the rows of `source` (a staged part, or a final part of the finished job that an
// incremental run updates) become the part `destination`, without the rows whose path is in `*dropped`
// (nullptr: none). `dropped` is not owned and outlives the copy.
struct PartCopy {
  Location source;
  Location destination;
  const PathSet* dropped = nullptr;
};

// Pass two of a run: reads each part's source batch by batch, leaves out its dropped rows,
// sets the `pca` column from `pca` (replacing the one a source may have) and writes the destination, a part
// per core at a time. Without a `pca` (a job with too few rows for one, run_job.h) the parts have no `pca`
// column. A part whose rows were all dropped is not written. The sources stay until the job's _SUCCESS is
// written, so that an interruption here loses nothing. Returns the rows written to each part, in `parts`'
// order. The first failure stops the other parts and is rethrown.
std::vector<std::int64_t> WriteFeatureParts(std::span<const PartCopy> parts, const PcaModel* pca);

// The same for parts of error rows (path, stage, message), copied as they are.
std::vector<std::int64_t> WriteErrorParts(std::span<const PartCopy> parts);

// The moments (CovarianceAccumulator: count, mean, scatter) of the `features` rows of `parts` whose path is
// in `selected`: what leaving those rows out takes from a job's PCA. `dim` is the features' length. Throws
// IoError naming a part that cannot be read or has no string column `path`.
CovarianceAccumulator MomentsOf(std::span<const Location> parts, const PathSet& selected, std::size_t dim);

// The paths of the rows of every part in `parts` (feature or error parts). Throws IoError naming a part that
// cannot be read or has no string column 'path'.
PathSet PathsIn(std::span<const Location> parts);

}  // namespace orchard
