#include "orchard/audit/audit_analysis.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <span>

#include "orchard/audit/confident_learning.h"
#include "orchard/recognition/labelled_rows.h"

namespace orchard {
namespace {

constexpr std::size_t kQueryBlock = 4096;

// A sub-index over some rows of `index` (their stored, normalised vectors) and the rows it came from.
struct Subset {
  CosineIndex index;
  std::vector<std::int64_t> rows;
};

Subset MakeSubset(const CosineIndex& index, std::vector<std::int64_t> rows) {
  std::vector<float> vectors;
  vectors.reserve(rows.size() * index.dim());
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  for (const auto row : rows) {
    const auto vector = index.Vector(row);
    vectors.insert(vectors.end(), vector.begin(), vector.end());
    paths.push_back(index.keys().paths[static_cast<std::size_t>(row)]);
    labels.push_back(index.keys().labels[static_cast<std::size_t>(row)]);
  }
  Subset subset{CosineIndex(index.dim()), std::move(rows)};
  subset.index.Add({vectors, index.dim()}, paths, labels);
  return subset;
}

// The mean of the two middle values for an even count (the usual median; the upper one alone halved the
// z-scores of a four-image label).
double Median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  if (values.size() % 2 == 1) return *middle;
  return (*middle + *std::max_element(values.begin(), middle)) / 2.0;
}

nlohmann::json Entry(const CosineIndex& index, std::int64_t row, double score) {
  const auto at = static_cast<std::size_t>(row);
  return {{"path", index.keys().paths[at]}, {"label", index.keys().labels[at]}, {"score", score}};
}

// Sorts entries by score, highest first, and numbers them.
nlohmann::json Ranked(std::vector<nlohmann::json> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.at("score").template get<double>() > b.at("score").template get<double>();
  });
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i]["rank"] = i + 1;
  return entries;
}

std::int64_t Root(std::vector<std::int64_t>& parent, std::int64_t row) {
  while (parent[static_cast<std::size_t>(row)] != row) {
    parent[static_cast<std::size_t>(row)] =
        parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(row)])];
    row = parent[static_cast<std::size_t>(row)];
  }
  return row;
}

// Why nothing was compared for leakage: the split without an image, and the splits there are.
std::string SkippedReason(const AuditSettings& settings, bool no_train, const std::set<std::string>& splits) {
  std::string found;
  for (const auto& split : splits) found += (found.empty() ? "'" : ", '") + split + "'";
  if (found.empty()) found = "none";
  return "no train/test leakage check: no image in split '" +
         (no_train ? settings.train_split : settings.test_split) + "' (splits found: " + found + ")";
}

// The NFKC case folding of `label`; the label itself when it is not valid UTF-8.
std::string FoldedName(const std::string& label) {
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> folded(
      utf8proc_NFKC_Casefold(reinterpret_cast<const utf8proc_uint8_t*>(label.c_str())), &std::free);
  return folded ? std::string(reinterpret_cast<const char*>(folded.get())) : label;
}

}  // namespace

std::vector<std::vector<Neighbour>> NeighbourGraph(const CosineIndex& index, std::size_t k) {
  std::vector<std::vector<Neighbour>> graph;
  graph.reserve(index.size());
  for (std::size_t start = 0; start < index.size(); start += kQueryBlock) {
    const std::size_t n = std::min(kQueryBlock, index.size() - start);
    const auto first = index.Vector(static_cast<std::int64_t>(start));
    // Rows are stored contiguously, so a block of rows is one span.
    auto found = index.Search({first.data(), n * index.dim()}, n, k + 1);
    for (std::size_t q = 0; q < n; ++q) {
      auto& list = found[q];
      const auto self = static_cast<std::int64_t>(start + q);
      std::erase_if(list, [self](const Neighbour& neighbour) { return neighbour.row == self; });
      if (list.size() > k) list.resize(k);
      graph.push_back(std::move(list));
    }
  }
  return graph;
}

nlohmann::json NearDuplicateGroups(const CosineIndex& index, const std::vector<std::vector<Neighbour>>& graph,
                                   double threshold) {
  std::vector<std::int64_t> parent(index.size());
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t row = 0; row < graph.size(); ++row) {
    for (const auto& neighbour : graph[row]) {
      if (!IsNearDuplicate(neighbour, threshold)) break;  // most similar first
      parent[static_cast<std::size_t>(Root(parent, static_cast<std::int64_t>(row)))] =
          Root(parent, neighbour.row);
    }
  }
  std::map<std::int64_t, std::vector<std::int64_t>> groups;
  for (std::size_t row = 0; row < graph.size(); ++row) {
    if (!graph[row].empty() && IsNearDuplicate(graph[row].front(), threshold)) {
      groups[Root(parent, static_cast<std::int64_t>(row))].push_back(static_cast<std::int64_t>(row));
    }
  }
  std::vector<nlohmann::json> entries;
  for (const auto& [root, rows] : groups) {
    nlohmann::json members = nlohmann::json::array();
    double best = 0.0;
    for (const auto row : rows) {
      const Neighbour& match = graph[static_cast<std::size_t>(row)].front();
      auto member = Entry(index, row, match.similarity);
      member["match_path"] = index.keys().paths[static_cast<std::size_t>(match.row)];
      members.push_back(std::move(member));
      best = std::max(best, static_cast<double>(match.similarity));
    }
    entries.push_back({{"size", rows.size()}, {"score", best}, {"members", std::move(members)}});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.at("size").template get<std::size_t>() > b.at("size").template get<std::size_t>();
  });
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i]["id"] = i;
  return entries;
}

nlohmann::json CrossSplit(const CosineIndex& index, const AuditSettings& settings) {
  std::vector<std::int64_t> train;
  std::vector<std::int64_t> test;
  std::set<std::string> splits;
  for (std::size_t row = 0; row < index.size(); ++row) {
    const std::string split = SplitOf(index.keys().paths[row]);
    if (split == settings.train_split) train.push_back(static_cast<std::int64_t>(row));
    if (split == settings.test_split) test.push_back(static_cast<std::int64_t>(row));
    splits.insert(split);
  }
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> per_class;  // leaked, test images
  nlohmann::json pairs = nlohmann::json::array();
  if (!train.empty() && !test.empty()) {
    const Subset reference = MakeSubset(index, train);
    const Subset queries = MakeSubset(index, test);
    const auto first = queries.index.Vector(0);
    const auto matches =
        FindNearDuplicates(reference.index, {{first.data(), test.size() * index.dim()}, index.dim()},
                           settings.near_duplicate_cosine);
    for (std::size_t i = 0; i < test.size(); ++i) {
      auto& counts = per_class[index.keys().labels[static_cast<std::size_t>(test[i])]];
      ++counts.second;
      if (!matches[i]) continue;
      ++counts.first;
      auto pair = Entry(index, test[i], matches[i]->similarity);
      const auto match = static_cast<std::size_t>(reference.rows[static_cast<std::size_t>(matches[i]->row)]);
      pair["match_path"] = index.keys().paths[match];
      pair["match_label"] = index.keys().labels[match];
      pairs.push_back(std::move(pair));
    }
  }
  nlohmann::json leakage = nlohmann::json::object();
  std::int64_t leaked = 0;
  for (const auto& [label, counts] : per_class) {
    leakage[label] = {{"leaked", counts.first}, {"test_images", counts.second}};
    leaked += counts.first;
  }
  nlohmann::json section = {{"train_split", settings.train_split},
                            {"test_split", settings.test_split},
                            {"leaked", leaked},
                            {"test_images", test.size()},
                            {"per_class", leakage},
                            {"pairs", Ranked(pairs)}};
  // "0 leaked" would read as a clean split when nothing was compared (a misspelt split, or an output of one).
  if (train.empty() || test.empty()) section["skipped"] = SkippedReason(settings, train.empty(), splits);
  return section;
}

nlohmann::json Outliers(const CosineIndex& index, const AuditSettings& settings) {
  std::map<std::string, std::vector<std::int64_t>> by_label;
  for (std::size_t row = 0; row < index.size(); ++row)
    by_label[index.keys().labels[row]].push_back(static_cast<std::int64_t>(row));
  std::vector<nlohmann::json> entries;
  for (auto& [label, rows] : by_label) {
    const Subset subset = MakeSubset(index, std::move(rows));
    const auto graph = NeighbourGraph(subset.index, settings.outlier_k);
    std::vector<double> distances;
    for (const auto& neighbours : graph) {
      double sum = 0.0;
      for (const auto& neighbour : neighbours) sum += neighbour.similarity;
      distances.push_back(neighbours.empty() ? 0.0 : 1.0 - sum / static_cast<double>(neighbours.size()));
    }
    const double median = Median(distances);
    std::vector<double> deviations;
    for (const double d : distances) deviations.push_back(std::abs(d - median));
    // A floor on the spread keeps a label of near-identical frames from turning tiny differences into
    // huge scores.
    const double spread = std::max(1.4826 * Median(deviations), 1e-3);
    for (std::size_t i = 0; i < distances.size(); ++i) {
      const double z = (distances[i] - median) / spread;
      if (z < settings.outlier_z) continue;
      auto entry = Entry(index, subset.rows[i], z);
      entry["distance"] = distances[i];
      entries.push_back(std::move(entry));
    }
  }
  return Ranked(std::move(entries));
}

nlohmann::json LabelIssues(const CosineIndex& index, const std::vector<std::vector<Neighbour>>& graph) {
  std::map<std::string, std::size_t> ids;
  for (const auto& label : index.keys().labels) ids.emplace(label, 0);
  std::vector<std::string> names;
  for (auto& [label, id] : ids) {
    id = names.size();
    names.push_back(label);
  }
  const std::size_t classes = names.size();
  std::vector<std::size_t> given(index.size());
  for (std::size_t row = 0; row < index.size(); ++row) given[row] = ids.at(index.keys().labels[row]);
  // Leave-one-out k-NN probabilities: similarity-weighted votes of the neighbours (negative similarities
  // count for nothing).
  std::vector<double> p(index.size() * classes, 0.0);
  for (std::size_t row = 0; row < index.size(); ++row) {
    double total = 0.0;
    for (const auto& neighbour : graph[row]) {
      const double weight = std::max(0.0f, neighbour.similarity);
      p[row * classes + given[static_cast<std::size_t>(neighbour.row)]] += weight;
      total += weight;
    }
    for (std::size_t c = 0; total > 0.0 && c < classes; ++c) p[row * classes + c] /= total;
  }
  const std::vector<bool> issues = FindLabelIssues(p, classes, given);
  std::vector<nlohmann::json> entries;
  for (std::size_t row = 0; row < index.size(); ++row) {
    if (!issues[row]) continue;
    const auto probabilities = std::span<const double>(p).subspan(row * classes, classes);
    const auto suggested =
        static_cast<std::size_t>(std::ranges::max_element(probabilities) - probabilities.begin());
    auto entry = Entry(index, static_cast<std::int64_t>(row), 1.0 - probabilities[given[row]]);
    entry["suggested_label"] = names[suggested];
    entry["confidence"] = probabilities[suggested];
    entries.push_back(std::move(entry));
  }
  return Ranked(std::move(entries));
}

nlohmann::json LabelNameClashes(const CosineIndex& index) {
  std::map<std::string, std::int64_t> images;
  for (const auto& label : index.keys().labels) ++images[label];
  std::map<std::string, std::vector<std::string>> by_folded;
  for (const auto& [label, count] : images) by_folded[FoldedName(label)].push_back(label);
  std::vector<nlohmann::json> clashes;
  for (const auto& [folded, labels] : by_folded) {
    if (labels.size() < 2) continue;
    nlohmann::json entry = {{"labels", nlohmann::json::array()}, {"images", 0}};
    for (const auto& label : labels) {
      entry["labels"].push_back({{"label", label}, {"images", images[label]}});
      entry["images"] = entry["images"].get<std::int64_t>() + images[label];
    }
    clashes.push_back(std::move(entry));
  }
  std::stable_sort(clashes.begin(), clashes.end(), [](const auto& a, const auto& b) {
    return a.at("images").template get<std::int64_t>() > b.at("images").template get<std::int64_t>();
  });
  return clashes;
}

}  // namespace orchard
