#include "orchard/recognition/open_set.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "orchard/common/error.h"
#include "orchard/pca/covariance_accumulator.h"

namespace orchard {
namespace {

constexpr const char* kMethod =
    "Mahalanobis distance to the nearest class mean, shared covariance (Lee et al. 2018)";

struct Fitted {
  PcaModel whitening;
  Eigen::MatrixXd means;  // n_classes x k, in the whitening's coordinates
};

// Class means and the shared within-class covariance of the rows outside fold `skip` (all rows for -1).
Fitted FitOn(std::span<const float> rows, std::size_t dim, std::span<const int> classes,
             std::size_t n_classes, std::span<const int> folds, int skip, double variance_fraction) {
  const auto in = [&](std::size_t i) { return skip < 0 || folds[i] != skip; };
  Eigen::MatrixXd means =
      Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n_classes), static_cast<Eigen::Index>(dim));
  std::vector<double> counts(n_classes, 0.0);
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (!in(i)) continue;
    const auto c = static_cast<Eigen::Index>(classes[i]);
    for (std::size_t j = 0; j < dim; ++j) means(c, static_cast<Eigen::Index>(j)) += rows[i * dim + j];
    counts[static_cast<std::size_t>(c)] += 1.0;
  }
  for (std::size_t c = 0; c < n_classes; ++c) {
    if (counts[c] == 0.0) throw UsageError("open set: class " + std::to_string(c) + " has no rows to fit");
    means.row(static_cast<Eigen::Index>(c)) /= counts[c];
  }
  // Class-centred rows, gathered so that each covariance update is a blocked rank-k product.
  CovarianceAccumulator within(dim);
  std::vector<float> batch;
  batch.reserve(CovarianceAccumulator::kRowsPerUpdate * dim);
  const auto flush = [&] {
    within.AddRows(batch, batch.size() / dim);
    batch.clear();
  };
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (!in(i)) continue;
    for (std::size_t j = 0; j < dim; ++j) {
      batch.push_back(
          static_cast<float>(rows[i * dim + j] - means(classes[i], static_cast<Eigen::Index>(j))));
    }
    if (batch.size() == batch.capacity()) flush();
  }
  if (!batch.empty()) flush();
  Fitted fitted{PcaModel::Fit(within, {.k = 0, .variance_fraction = variance_fraction}), {}};
  fitted.means =
      (means.rowwise() - fitted.whitening.mean.transpose()) * fitted.whitening.components.transpose();
  return fitted;
}

void ScoreWith(const PcaModel& whitening, const Eigen::MatrixXd& means, std::span<const float> rows,
               std::size_t n, std::span<float> out) {
  if (rows.size() != n * whitening.dim() || out.size() != n)
    throw std::invalid_argument("OpenSetDetector::Score: wrong sizes");
  const std::size_t k = whitening.k();
  std::vector<float> projected(n * k);
  whitening.Transform(rows, n, projected);
  const Eigen::ArrayXd inverse =
      whitening.explained_variance.array().unaryExpr([](double v) { return v > 0.0 ? 1.0 / v : 0.0; });
  for (std::size_t i = 0; i < n; ++i) {
    const Eigen::Map<const Eigen::VectorXf> p(projected.data() + i * k, static_cast<Eigen::Index>(k));
    const Eigen::ArrayXd row = p.cast<double>().array();
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index c = 0; c < means.rows(); ++c) {
      best = std::min(best, ((row - means.row(c).transpose().array()).square() * inverse).sum());
    }
    out[i] = static_cast<float>(best);
  }
}

}  // namespace

OpenSetDetector OpenSetDetector::Fit(std::span<const float> rows, std::size_t dim,
                                     std::span<const int> classes, std::size_t n_classes,
                                     std::span<const int> folds, const OpenSetOptions& options) {
  const std::size_t n = classes.size();
  if (dim == 0 || n == 0 || rows.size() != n * dim || folds.size() != n)
    throw UsageError("open set: need n * dim values and a fold per row");
  if (!(options.quantile > 0.0 && options.quantile <= 1.0))
    throw UsageError("open set: the quantile must be in (0, 1]");
  for (const int c : classes) {
    if (c < 0 || static_cast<std::size_t>(c) >= n_classes) throw UsageError("open set: class out of range");
  }
  const int k = *std::max_element(folds.begin(), folds.end()) + 1;
  std::vector<float> scores;
  for (int fold = 0; fold < k; ++fold) {
    const Fitted fitted = FitOn(rows, dim, classes, n_classes, folds, fold, options.variance_fraction);
    std::vector<float> fold_rows;
    for (std::size_t i = 0; i < n; ++i) {
      if (folds[i] == fold)
        fold_rows.insert(fold_rows.end(), rows.begin() + i * dim, rows.begin() + (i + 1) * dim);
    }
    std::vector<float> fold_scores(fold_rows.size() / dim);
    ScoreWith(fitted.whitening, fitted.means, fold_rows, fold_scores.size(), fold_scores);
    scores.insert(scores.end(), fold_scores.begin(), fold_scores.end());
  }
  std::sort(scores.begin(), scores.end());
  // Nearest rank: the smallest score with at least `quantile` of the scores at or below it.
  const auto rank =
      static_cast<std::size_t>(std::ceil(options.quantile * static_cast<double>(scores.size())));
  OpenSetDetector detector;
  detector.options_ = options;
  detector.threshold_ = scores[std::clamp<std::size_t>(rank, 1, scores.size()) - 1];
  Fitted all = FitOn(rows, dim, classes, n_classes, folds, -1, options.variance_fraction);
  detector.whitening_ = std::move(all.whitening);
  detector.means_ = std::move(all.means);
  return detector;
}

OpenSetDetector OpenSetDetector::FromParts(PcaModel whitening, const nlohmann::json& description) {
  OpenSetDetector detector;
  try {
    detector.threshold_ = description.at("threshold").get<double>();
    detector.options_.quantile = description.at("quantile").get<double>();
    detector.options_.variance_fraction = description.at("variance_fraction").get<double>();
    const auto means = description.at("class_means").get<std::vector<std::vector<double>>>();
    detector.means_.resize(static_cast<Eigen::Index>(means.size()), static_cast<Eigen::Index>(whitening.k()));
    for (std::size_t c = 0; c < means.size(); ++c) {
      if (means[c].size() != whitening.k()) throw IoError("open set: a class mean of the wrong length");
      for (std::size_t j = 0; j < means[c].size(); ++j) detector.means_(c, j) = means[c][j];
    }
  } catch (const nlohmann::json::exception& e) {
    throw IoError(std::string("open set description: ") + e.what());
  }
  detector.whitening_ = std::move(whitening);
  return detector;
}

void OpenSetDetector::Score(std::span<const float> rows, std::size_t n, std::span<float> out) const {
  ScoreWith(whitening_, means_, rows, n, out);
}

nlohmann::json OpenSetDetector::Describe() const {
  std::vector<std::vector<double>> means(static_cast<std::size_t>(means_.rows()));
  for (Eigen::Index c = 0; c < means_.rows(); ++c) {
    for (Eigen::Index j = 0; j < means_.cols(); ++j) means[c].push_back(means_(c, j));
  }
  return {{"method", kMethod},
          {"threshold", threshold_},
          {"quantile", options_.quantile},
          {"variance_fraction", options_.variance_fraction},
          {"components", whitening_.k()},
          {"class_means", means}};
}

}  // namespace orchard
