#include "orchard/recognition/evaluation.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "orchard/recognition/recognizer.h"

namespace orchard {

Evaluation Evaluate(std::span<const std::string> true_labels, std::span<const float> probabilities,
                    const std::vector<std::string>& labels) {
  const std::size_t classes = labels.size();
  if (probabilities.size() != true_labels.size() * classes)
    throw std::invalid_argument("Evaluate: wrong sizes");
  std::map<std::string, std::size_t> index;
  for (std::size_t c = 0; c < classes; ++c) index.emplace(labels[c], c);

  Evaluation result;
  result.labels = labels;
  result.n = static_cast<std::int64_t>(true_labels.size());
  result.confusion.assign(classes, std::vector<std::int64_t>(classes, 0));
  std::set<std::string> unknown;
  std::int64_t hits1 = 0, hits5 = 0;
  for (std::size_t i = 0; i < true_labels.size(); ++i) {
    const auto top = TopK(probabilities.subspan(i * classes, classes), 5);
    const auto known = index.find(true_labels[i]);
    if (known == index.end()) {
      unknown.insert(true_labels[i]);
      continue;
    }
    const std::size_t truth = known->second;
    ++result.confusion[truth][top.front()];
    hits1 += top.front() == truth;
    for (const std::size_t c : top) hits5 += c == truth;
  }
  if (result.n > 0) {
    result.top1 = static_cast<double>(hits1) / static_cast<double>(result.n);
    result.top5 = static_cast<double>(hits5) / static_cast<double>(result.n);
  }
  result.unknown_labels.assign(unknown.begin(), unknown.end());
  result.per_class.resize(classes);
  for (std::size_t c = 0; c < classes; ++c) {
    std::int64_t support = 0, predicted = 0;
    for (std::size_t o = 0; o < classes; ++o) {
      support += result.confusion[c][o];
      predicted += result.confusion[o][c];
    }
    const auto hits = static_cast<double>(result.confusion[c][c]);
    result.per_class[c] = {predicted ? std::optional(hits / static_cast<double>(predicted)) : std::nullopt,
                           support ? std::optional(hits / static_cast<double>(support)) : std::nullopt,
                           support};
  }
  return result;
}

nlohmann::json EvaluateOpenSet(std::span<const std::string> true_labels, std::span<const float> scores,
                               const std::vector<std::string>& labels, double threshold) {
  if (scores.size() != true_labels.size()) throw std::invalid_argument("EvaluateOpenSet: wrong sizes");
  const std::set<std::string> known_labels(labels.begin(), labels.end());
  std::vector<std::pair<float, bool>> ranked;  // (score, is unknown)
  std::int64_t counts[2] = {0, 0}, rejected[2] = {0, 0};
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool unknown = !known_labels.contains(true_labels[i]);
    ranked.emplace_back(scores[i], unknown);
    ++counts[unknown];
    rejected[unknown] += scores[i] > threshold;
  }
  // Mann-Whitney: AUROC = (sum of the unknown rows' ranks - n_u (n_u + 1) / 2) / (n_u n_k), mid-ranks for
  // ties.
  std::sort(ranked.begin(), ranked.end());
  double rank_sum = 0.0;
  for (std::size_t i = 0; i < ranked.size();) {
    std::size_t j = i;
    while (j < ranked.size() && ranked[j].first == ranked[i].first) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t r = i; r < j; ++r) rank_sum += ranked[r].second ? mid_rank : 0.0;
    i = j;
  }
  const auto n_u = static_cast<double>(counts[1]), n_k = static_cast<double>(counts[0]);
  const auto side = [&](int unknown) {
    return nlohmann::json{{"n", counts[unknown]},
                          {"rejected", rejected[unknown]},
                          {"reject_rate", counts[unknown] ? static_cast<double>(rejected[unknown]) /
                                                                static_cast<double>(counts[unknown])
                                                          : 0.0}};
  };
  return {{"threshold", threshold},
          {"known", side(0)},
          {"unknown", side(1)},
          {"auroc", n_u > 0 && n_k > 0 ? nlohmann::json((rank_sum - n_u * (n_u + 1) / 2) / (n_u * n_k))
                                       : nlohmann::json(nullptr)}};
}

nlohmann::json Evaluation::ToJson() const {
  const auto figure = [](const std::optional<double>& value) {
    return value ? nlohmann::json(*value) : nullptr;
  };
  nlohmann::json per = nlohmann::json::object();
  for (std::size_t c = 0; c < labels.size(); ++c) {
    per[labels[c]] = {{"precision", figure(per_class[c].precision)},
                      {"recall", figure(per_class[c].recall)},
                      {"support", per_class[c].support}};
  }
  return {{"n", n},
          {"top1", top1},
          {"top5", top5},
          {"labels", labels},
          {"per_class", per},
          {"confusion", confusion},
          {"unknown_labels", unknown_labels}};
}

}  // namespace orchard
