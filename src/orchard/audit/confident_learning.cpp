#include "orchard/audit/confident_learning.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace orchard {
namespace {

// A classes x classes matrix of counts, row-major.
struct Square {
  std::size_t size;
  std::vector<double> at;
  double& operator()(std::size_t row, std::size_t column) { return at[row * size + column]; }
};

std::size_t ArgMax(std::span<const double> row) {
  return static_cast<std::size_t>(std::ranges::max_element(row) - row.begin());
}

// cleanlab's round_preserving_sum: round half to even, then move the difference to the sum's rounding onto
// the entries with the largest rounding residuals.
void RoundPreservingSum(std::span<double> values) {
  std::vector<double> rounded(values.size());
  std::ranges::transform(values, rounded.begin(), [](double v) { return std::nearbyint(v); });
  const double target = std::nearbyint(std::accumulate(values.begin(), values.end(), 0.0));
  for (double sum = std::accumulate(rounded.begin(), rounded.end(), 0.0); std::abs(sum - target) > 1e-6;
       sum = std::accumulate(rounded.begin(), rounded.end(), 0.0)) {
    const double step = target > sum ? 1.0 : -1.0;
    std::vector<std::size_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::ranges::stable_sort(order, [&](std::size_t a, std::size_t b) {
      return step * (values[a] - rounded[a]) > step * (values[b] - rounded[b]);
    });
    const auto changes = std::min(values.size(), static_cast<std::size_t>(std::abs(target - sum)));
    for (std::size_t i = 0; i < changes; ++i) rounded[order[i]] += step;
  }
  std::ranges::copy(rounded, values.begin());
}

Square CalibratedConfidentJoint(std::span<const double> p, std::size_t classes,
                                std::span<const std::size_t> given, std::span<const double> counts) {
  std::vector<double> threshold(classes, 0.0);
  for (std::size_t row = 0; row < given.size(); ++row) threshold[given[row]] += p[row * classes + given[row]];
  // Clipped from below as cleanlab does (2e-6, above the 1e-6 slack of the comparison): a label whose
  // examples have no neighbour of it has threshold 0, and every example, of p 0, would be confident of it.
  constexpr double kLowestThreshold = 2e-6;
  for (std::size_t c = 0; c < classes; ++c)
    threshold[c] = std::max(threshold[c] / std::max(1.0, counts[c]), kLowestThreshold);
  Square joint{classes, std::vector<double>(classes * classes, 0.0)};
  for (std::size_t row = 0; row < given.size(); ++row) {
    const auto probabilities = p.subspan(row * classes, classes);
    std::size_t confident = 0;
    std::size_t guess = classes;
    for (std::size_t c = 0; c < classes; ++c) {
      if (probabilities[c] < threshold[c] - 1e-6) continue;
      ++confident;
      if (guess == classes) guess = c;
    }
    if (confident == 0) continue;
    joint(given[row], confident > 1 ? ArgMax(probabilities) : guess) += 1.0;
  }
  double total = 0.0;
  for (std::size_t i = 0; i < classes; ++i) {
    joint(i, i) = std::max(joint(i, i), 1.0);
    const std::span row(joint.at.data() + i * classes, classes);
    const double sum = std::accumulate(row.begin(), row.end(), 0.0);
    for (double& value : row) value = value / sum * counts[i];
    total += counts[i];
  }
  const double calibrated = std::accumulate(joint.at.begin(), joint.at.end(), 0.0);
  for (double& value : joint.at) value = value / std::max(calibrated, 1e-100) * total;
  for (std::size_t i = 0; i < classes; ++i) RoundPreservingSum({joint.at.data() + i * classes, classes});
  return joint;
}

// cleanlab's _keep_at_least_n_per_class(confident_joint.T, n = 1), then its truncation to integers. prune(j,
// i): how many examples labelled i to take as truly j.
Square PruneCounts(Square joint) {
  const std::size_t classes = joint.size;
  Square prune{classes, std::vector<double>(classes * classes)};
  for (std::size_t j = 0; j < classes; ++j)
    for (std::size_t i = 0; i < classes; ++i) prune(j, i) = joint(i, j);
  for (std::size_t column = 0; column < classes; ++column) {
    const double diagonal = prune(column, column);
    const double raise = std::max(diagonal, 1.0) - diagonal;
    std::size_t nonzero = 0;
    for (std::size_t row = 0; row < classes; ++row) nonzero += prune(row, column) != 0.0 ? 1 : 0;
    const double spread = static_cast<double>(std::max<std::size_t>(nonzero, 2) - 1);
    for (std::size_t row = 0; row < classes; ++row)
      prune(row, column) = std::max(0.0, prune(row, column) - raise / spread);
    prune(column, column) = diagonal + raise;
  }
  for (double& value : prune.at) value = std::trunc(value);
  return prune;
}

}  // namespace

std::vector<bool> FindLabelIssues(std::span<const double> probabilities, std::size_t classes,
                                  std::span<const std::size_t> given) {
  if (given.empty() && probabilities.empty()) return {};  // an output with no features: nothing to flag
  if (classes == 0 || probabilities.size() != given.size() * classes)
    throw std::invalid_argument("FindLabelIssues: probabilities must be n x classes for n labels");
  for (const std::size_t label : given)
    if (label >= classes) throw std::invalid_argument("FindLabelIssues: a label is not below classes");
  std::vector<double> counts(classes, 0.0);
  std::vector<std::vector<std::size_t>> members(classes);
  for (std::size_t row = 0; row < given.size(); ++row) {
    ++counts[given[row]];
    members[given[row]].push_back(row);
  }
  Square prune = PruneCounts(CalibratedConfidentJoint(probabilities, classes, given, counts));
  const auto p = [&](std::size_t row, std::size_t c) { return probabilities[row * classes + c]; };
  std::vector<bool> issues(given.size(), false);
  for (std::size_t label = 0; label < classes; ++label) {
    if (members[label].size() <= 1) continue;
    for (std::size_t truth = 0; truth < classes; ++truth) {
      const auto take = static_cast<std::size_t>(prune(truth, label));
      if (truth == label || take == 0) continue;
      std::vector<std::size_t> order = members[label];
      std::ranges::stable_sort(order, [&](std::size_t a, std::size_t b) {
        return p(a, truth) - p(a, label) > p(b, truth) - p(b, label);
      });
      for (std::size_t i = 0; i < std::min(take, order.size()); ++i) issues[order[i]] = true;
    }
  }
  for (std::size_t row = 0; row < given.size(); ++row)
    if (ArgMax(probabilities.subspan(row * classes, classes)) == given[row]) issues[row] = false;
  return issues;
}

}  // namespace orchard
