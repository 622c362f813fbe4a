#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace orchard {

struct ClassFigures {
  // Of the rows predicted as this class, the fraction that are; undefined (nullopt, JSON null) when none
  // were: 0 would read as a class the classifier always gets wrong.
  std::optional<double> precision;
  // Of the rows of this class, the fraction predicted as it; undefined when the split has none.
  std::optional<double> recall;
  std::int64_t support = 0;
};

// Classification quality on labelled rows. Rows whose true label the classifier does not know count as
// errors in top-1/top-5 and appear in `unknown_labels`, not in the confusion matrix.
struct Evaluation {
  std::vector<std::string> labels;  // the classifier's classes, class index order
  std::int64_t n = 0;
  double top1 = 0.0;
  double top5 = 0.0;
  std::vector<ClassFigures> per_class;               // by class index
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  std::vector<std::string> unknown_labels;

  // metrics.json: top1, top5, n, labels, per_class {label: {precision, recall, support}}, confusion
  // (rows = true label, columns = predicted, both in `labels` order), unknown_labels.
  nlohmann::json ToJson() const;
};

// `probabilities`: one row of labels.size() values per true label, row-major.
Evaluation Evaluate(std::span<const std::string> true_labels, std::span<const float> probabilities,
                    const std::vector<std::string>& labels);

// How well the unknown-fruit threshold separates rows of labels the bundle knows from rows of labels it was
// not trained on (`labels` are the known ones). `scores`: one open-set score per row (larger = farther).
// Returns {"threshold", "known": {"n", "rejected", "reject_rate"} (false rejects), "unknown": {...} (true
// rejects), "auroc"}: the probability that an unknown row scores higher than a known one (ties count half),
// null without rows of both kinds.
nlohmann::json EvaluateOpenSet(std::span<const std::string> true_labels, std::span<const float> scores,
                               const std::vector<std::string>& labels, double threshold);

}  // namespace orchard
