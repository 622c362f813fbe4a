#include "orchard/recognition/cross_validation.h"

#include <algorithm>
#include <numeric>
#include <string_view>
#include <tuple>

#include "orchard/common/error.h"
#include "orchard/recognition/recognizer.h"

namespace orchard {
namespace {

// The first run of digits in the file name ("r_123_100.jpg" -> 123), or -1 when there is none; as a
// number, so that frame 10 follows frame 9.
long long FrameNumber(std::string_view path) {
  const auto slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto first = name.find_first_of("0123456789");
  if (first == std::string_view::npos) return -1;
  long long number = 0;
  for (std::size_t i = first;
       i < name.size() && name[i] >= '0' && name[i] <= '9' && number < 1'000'000'000'000; ++i) {
    number = number * 10 + (name[i] - '0');
  }
  return number;
}

}  // namespace

std::vector<int> BlockedFolds(std::span<const std::string> paths, std::span<const int> classes,
                              std::size_t n_classes, std::size_t k) {
  if (k < 2) throw UsageError("cross-validation needs at least 2 folds");
  if (paths.size() != classes.size()) throw UsageError("BlockedFolds: one class per path");
  std::vector<std::vector<std::size_t>> members(n_classes);
  for (std::size_t i = 0; i < classes.size(); ++i)
    members.at(static_cast<std::size_t>(classes[i])).push_back(i);
  std::vector<int> folds(paths.size(), 0);
  for (std::size_t c = 0; c < n_classes; ++c) {
    auto& rows = members[c];
    if (rows.size() < k) {
      throw UsageError("class " + std::to_string(c) + " has " + std::to_string(rows.size()) +
                       " rows, too few for " + std::to_string(k) + "-fold cross-validation");
    }
    std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
      return std::make_tuple(FrameNumber(paths[a]), std::string_view(paths[a])) <
             std::make_tuple(FrameNumber(paths[b]), std::string_view(paths[b]));
    });
    for (std::size_t r = 0; r < rows.size(); ++r) folds[rows[r]] = static_cast<int>(r * k / rows.size());
  }
  return folds;
}

double CrossValidatedAccuracy(std::span<const float> rows, std::size_t dim, std::span<const int> classes,
                              std::size_t n_classes, std::span<const int> folds,
                              const ClassifierOptions& options) {
  const std::size_t n = classes.size();
  if (folds.size() != n || rows.size() != n * dim) throw UsageError("CrossValidatedAccuracy: sizes disagree");
  const int k = n == 0 ? 0 : *std::max_element(folds.begin(), folds.end()) + 1;
  std::size_t hits = 0;
  for (int fold = 0; fold < k; ++fold) {
    std::vector<float> train_rows, test_rows;
    std::vector<int> train_classes, test_classes;
    for (std::size_t i = 0; i < n; ++i) {
      const auto row = rows.subspan(i * dim, dim);
      auto& target = folds[i] == fold ? test_rows : train_rows;
      target.insert(target.end(), row.begin(), row.end());
      (folds[i] == fold ? test_classes : train_classes).push_back(classes[i]);
    }
    const auto classifier = LogisticClassifier::Train(train_rows, dim, train_classes, n_classes, options);
    std::vector<float> probabilities(test_classes.size() * n_classes);
    classifier.PredictProbabilities(test_rows, test_classes.size(), probabilities);
    for (std::size_t i = 0; i < test_classes.size(); ++i) {
      const auto row = std::span<const float>(probabilities).subspan(i * n_classes, n_classes);
      hits += TopK(row, 1).front() == static_cast<std::size_t>(test_classes[i]);
    }
  }
  return n == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(n);
}

}  // namespace orchard
