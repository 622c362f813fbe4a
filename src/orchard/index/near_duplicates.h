#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "orchard/index/cosine_index.h"
#include "orchard/table/feature_table.h"

namespace orchard {

// The near-duplicate definition shared by `orchard audit` and `orchard eval`'s leakage-free figure: two
// images are near-duplicates when the cosine similarity of their `features` (the CNN features, not the PCA)
// is at least this. Calibrated on the sample with planted resized, re-encoded and slightly cropped copies
// (docs/audit.md): every planted copy is above it, while distinct photos of a fruit rarely are.
inline constexpr double kNearDuplicateCosine = 0.95;

// The definition itself: whether a neighbour is a near-duplicate of its query.
inline bool IsNearDuplicate(const Neighbour& neighbour, double threshold = kNearDuplicateCosine) {
  return static_cast<double>(neighbour.similarity) >= threshold;
}

// For each row of `queries` (row-major, reference.dim() floats each): its most similar row of `reference`
// when their cosine similarity is >= `threshold`, else nullopt. One result per query row.
std::vector<std::optional<Neighbour>> FindNearDuplicates(const CosineIndex& reference, FloatRows queries,
                                                         double threshold = kNearDuplicateCosine);

}  // namespace orchard
