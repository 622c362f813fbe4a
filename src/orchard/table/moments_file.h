#pragma once

#include "orchard/pca/covariance_accumulator.h"
#include "orchard/storage/location.h"

namespace orchard {

// The streaming covariance of a job's feature rows (CovarianceAccumulator: count, mean, scatter), stored
// beside its PCA model so that `orchard run --incremental` refits the PCA over old and new rows exactly
// without reading the old features again. A Parquet file that pyarrow reads directly: one row per dimension
// with columns mean (float64) and scatter (fixed_size_list<float64>[dim], that row of the symmetric scatter
// matrix, the sum of outer products of the centred rows), and {"format_version", "count", "dim"} as JSON
// under the key-value metadata key kMomentsMetadataKey. Doubles round-trip exactly.
inline constexpr const char* kMomentsMetadataKey = "orchard.moments";

// Writes atomically (WriteAtomically()). Throws IoError naming the file.
void WriteMoments(const CovarianceAccumulator& moments, const Location& location);

// Throws IoError naming the file when it cannot be read or is not an orchard moments file of `dim`.
CovarianceAccumulator ReadMoments(const Location& location, std::size_t dim);

}  // namespace orchard
