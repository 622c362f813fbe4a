#pragma once

#include <nlohmann/json.hpp>

#include "orchard/index/cosine_index.h"

namespace orchard {

// exact_duplicates: groups of images whose features are bit for bit equal, which decoding the same pixels
// gives: byte copies of one file (under two labels, in two splits) and lossless re-saves. Near-duplicate
// groups hold them too, but on video-frame data those groups are whole videos, where a copy is lost among 60
// frames.
// [{size, label_count (distinct labels in the group), members: [{path, label}]}], largest first, then by
// first path; members by path. O(n * dim) time (a hash of each vector, then equality within a hash).
nlohmann::json ExactDuplicateGroups(const CosineIndex& index);

}  // namespace orchard
