#include "orchard/recognition/leakage.h"

#include "orchard/common/error.h"
#include "orchard/index/near_duplicates.h"
#include "orchard/recognition/evaluation.h"

namespace orchard {

nlohmann::json LeakageFreeMetrics(const OutputLayout& output, const nlohmann::json& manifest,
                                  const std::string& reference_split, const LabelledRows& rows,
                                  std::span<const float> probabilities,
                                  const std::vector<std::string>& labels) {
  LabelledRows reference;
  try {
    reference = ReadLabelledRows(output, manifest, "features", reference_split);
  } catch (const UsageError& e) {
    return {{"skipped", e.what()}};  // an output of the test images alone: nothing to leak from
  }
  CosineIndex index(reference.dim);
  index.Add({reference.values, reference.dim}, reference.paths, reference.labels);
  const auto matches = FindNearDuplicates(index, {rows.values, rows.dim});
  std::vector<std::string> kept_labels;
  std::vector<float> kept_probabilities;
  const std::size_t classes = labels.size();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (matches[i]) continue;
    kept_labels.push_back(rows.labels[i]);
    const auto row = probabilities.subspan(i * classes, classes);
    kept_probabilities.insert(kept_probabilities.end(), row.begin(), row.end());
  }
  const Evaluation clean = Evaluate(kept_labels, kept_probabilities, labels);
  // No row left: a figure of 0 would read as "all wrong"; null says there is nothing to measure.
  const auto figure = [&](double value) { return clean.n > 0 ? nlohmann::json(value) : nlohmann::json(); };
  return {{"top1", figure(clean.top1)},
          {"top5", figure(clean.top5)},
          {"n", clean.n},
          {"leaked", static_cast<std::int64_t>(rows.size()) - clean.n},
          {"reference_split", reference_split},
          {"near_duplicate_cosine", kNearDuplicateCosine}};
}

}  // namespace orchard
