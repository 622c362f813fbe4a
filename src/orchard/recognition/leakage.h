#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "orchard/recognition/labelled_rows.h"

namespace orchard {

// The honest figure beside eval's top-1: top-1 and top-5 on the evaluated rows that have no near-duplicate
// (FindNearDuplicates(), the audit's definition) among the `reference_split` rows of the same output's
// features, usually the split the classifier was trained on. `rows` hold the evaluated rows' `features`,
// `probabilities` one row of labels.size() per row. Returns {top1, top5, n, leaked, reference_split,
// near_duplicate_cosine} (top1 and top5 null when every row leaked), or {skipped: reason} when the output has
// no rows of `reference_split`.
nlohmann::json LeakageFreeMetrics(const OutputLayout& output, const nlohmann::json& manifest,
                                  const std::string& reference_split, const LabelledRows& rows,
                                  std::span<const float> probabilities,
                                  const std::vector<std::string>& labels);

}  // namespace orchard
