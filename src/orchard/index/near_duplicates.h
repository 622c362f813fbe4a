#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "orchard/index/cosine_index.h"
#include "orchard/table/feature_table.h"

namespace orchard {

// The near-duplicate definition shared by `orchard audit` and `orchard eval`'s leakage-free figure: two
// images are near-duplicates when the cosine similarity of their `features` (the CNN features, not the PCA)
// is at least this. Calibrated on planted copies of 90 sample images (docs/audit.md): resized, JPEG
// re-encoded at quality 60 and 6 %-cropped copies score 0.923-0.99 against their originals with the default
// model, so 0.92 catches them all; on Fruits-360, made of video frames, neighbouring frames score as high.
inline constexpr double kNearDuplicateCosine = 0.92;

// The definition itself: whether a neighbour is a near-duplicate of its query.
inline bool IsNearDuplicate(const Neighbour& neighbour, double threshold = kNearDuplicateCosine) {
  return static_cast<double>(neighbour.similarity) >= threshold;
}

// For each row of `queries` (row-major, reference.dim() floats each): its most similar row of `reference`
// when their cosine similarity is >= `threshold`, else nullopt. One result per query row.
std::vector<std::optional<Neighbour>> FindNearDuplicates(const CosineIndex& reference, FloatRows queries,
                                                         double threshold = kNearDuplicateCosine);

}  // namespace orchard
