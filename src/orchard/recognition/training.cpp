#include "orchard/recognition/training.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/recognition/bundle.h"
#include "orchard/recognition/cross_validation.h"
#include "orchard/recognition/labelled_rows.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/table/pca_model_file.h"

namespace orchard {
namespace {

// Fraction of rows whose most probable class is their own.
double Accuracy(const LogisticClassifier& classifier, const LabelledRows& rows,
                std::span<const int> classes) {
  std::vector<float> probabilities(rows.size() * classifier.n_classes());
  classifier.PredictProbabilities(rows.values, rows.size(), probabilities);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto row =
        std::span<const float>(probabilities).subspan(i * classifier.n_classes(), classifier.n_classes());
    hits += TopK(row, 1).front() == static_cast<std::size_t>(classes[i]);
  }
  return static_cast<double>(hits) / static_cast<double>(rows.size());
}

// The C of the highest cross-validated accuracy (the smaller C on a tie, the simpler model); each candidate's
// figure goes to `table` and `log`.
double ChooseC(const TrainOptions& options, const LabelledRows& rows, std::span<const int> classes,
               std::size_t n_classes, std::span<const int> folds, nlohmann::json& table, std::ostream& log) {
  std::vector<double> candidates = options.c_candidates;
  std::sort(candidates.begin(), candidates.end());
  double best_c = candidates.front(), best = -1.0;
  for (const double c : candidates) {
    ClassifierOptions classifier = options.classifier;
    classifier.c = c;
    const double accuracy =
        CrossValidatedAccuracy(rows.values, rows.dim, classes, n_classes, folds, classifier);
    log << "orchard: C " << c << ": cross-validated accuracy " << accuracy << "\n";
    table.push_back({{"c", c}, {"accuracy", accuracy}});
    if (accuracy > best) best = accuracy, best_c = c;
  }
  return best_c;
}

// Rows of the split, without the excluded labels, with their class indices (labels in sorted order).
struct TrainingRows {
  LabelledRows rows;
  std::vector<std::string> labels;
  std::vector<int> classes;
  std::map<std::string, int> counts;
};

TrainingRows ReadTrainingRows(const OutputLayout& layout, const nlohmann::json& manifest,
                              const std::string& column, const TrainOptions& options) {
  TrainingRows result;
  LabelledRows all = ReadLabelledRows(layout, manifest, column, options.split);
  const std::set<std::string> excluded(options.exclude_labels.begin(), options.exclude_labels.end());
  const std::set<std::string> present(all.labels.begin(), all.labels.end());
  for (const auto& label : excluded)  // a misspelt label would leave out nothing, and say nothing
    if (!present.contains(label))
      throw UsageError("--exclude-label '" + label + "' is not a label of split '" + options.split + "'");
  result.rows.dim = all.dim;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (excluded.contains(all.labels[i])) continue;
    result.rows.paths.push_back(std::move(all.paths[i]));
    result.rows.labels.push_back(std::move(all.labels[i]));
    const auto row = std::span<const float>(all.values).subspan(i * all.dim, all.dim);
    result.rows.values.insert(result.rows.values.end(), row.begin(), row.end());
  }
  for (const auto& label : result.rows.labels) ++result.counts[label];
  std::map<std::string, int> index;
  for (const auto& [label, count] : result.counts) {
    index[label] = static_cast<int>(result.labels.size());
    result.labels.push_back(label);
  }
  if (result.labels.size() < 2)
    throw UsageError("split '" + options.split + "' has fewer than two labels; nothing to tell apart");
  for (const auto& label : result.rows.labels) result.classes.push_back(index[label]);
  return result;
}

}  // namespace

TrainResult TrainBundle(const TrainOptions& options, std::ostream& log) {
  Bundle::CheckFolder(options.bundle);  // before the training, whose result it would refuse to write
  const OutputLayout layout{ResolveLocation(options.output)};
  const nlohmann::json manifest = ReadRunManifest(layout);
  if (options.input != "features" && options.input != "pca")
    throw UsageError("unknown classifier input '" + options.input + "': the inputs are features and pca");
  if (manifest.at("pca").contains("skipped")) {  // the bundle keeps the PCA (predict --features, the report)
    throw UsageError(layout.root.uri() + " has no PCA (" +
                     manifest.at("pca").at("skipped").get<std::string>() + "); run orchard on more images");
  }
  const TrainingRows training = ReadTrainingRows(layout, manifest, options.input, options);
  const LabelledRows& rows = training.rows;
  const std::size_t n_classes = training.labels.size();
  log << "orchard: training on " << rows.size() << " rows of " << n_classes << " labels (" << rows.dim
      << "-d " << options.input << ")\n";

  // Cross-validation (choosing C) and the open-set threshold share the folds; a label with fewer rows
  // than folds lowers their number, and a label with a single row leaves neither possible.
  std::size_t folds_k = options.cv_folds;
  for (const auto& [label, count] : training.counts) folds_k = std::min<std::size_t>(folds_k, count);
  std::vector<int> folds;
  if (folds_k >= 2)
    folds = BlockedFolds(rows.paths, training.classes, n_classes, folds_k);
  else
    log << "orchard: a label has a single row: no cross-validation and no unknown-fruit threshold\n";

  ClassifierOptions chosen = options.classifier;
  nlohmann::json cross_validation = nlohmann::json::array();
  if (options.c_candidates.size() > 1 && !folds.empty())
    chosen.c = ChooseC(options, rows, training.classes, n_classes, folds, cross_validation, log);
  LogisticClassifier classifier =
      LogisticClassifier::Train(rows.values, rows.dim, training.classes, n_classes, chosen);
  TrainResult result{rows.size(), n_classes, Accuracy(classifier, rows, training.classes), {}};
  result.training = {{"output", layout.root.uri()},
                     {"split", options.split},
                     {"rows", rows.size()},
                     {"rows_per_label", training.counts},
                     {"excluded_labels", options.exclude_labels},
                     {"training_accuracy", result.training_accuracy}};
  const Location pca_file = PcaModelFile(layout, manifest);
  if (!cross_validation.empty())
    result.training["cross_validation"] = {{"folds", folds_k}, {"candidates", cross_validation}};
  std::optional<OpenSetDetector> open_set;
  if (!folds.empty()) {
    const TrainingRows features = options.input == "features"
                                      ? TrainingRows{}
                                      : ReadTrainingRows(layout, manifest, "features", options);
    const LabelledRows& source = options.input == "features" ? rows : features.rows;
    open_set =
        OpenSetDetector::Fit(source.values, source.dim, training.classes, n_classes, folds, options.open_set);
    log << "orchard: unknown-fruit threshold " << open_set->threshold() << " (quantile "
        << options.open_set.quantile << " of out-of-fold scores)\n";
  }
  Bundle bundle{ModelReference::FromJson(manifest.at("model")),
                PreprocessSpec::FromJson(manifest.at("preprocess")),
                ReadPcaModel(pca_file.fs, pca_file.path),
                std::move(classifier),
                options.input,
                training.labels,
                result.training,
                std::move(open_set)};
  if (options.input == "pca" && bundle.pca.k() != rows.dim)
    throw IoError(pca_file.uri() + " does not match the pca column");
  bundle.Save(options.bundle);
  return result;
}

}  // namespace orchard
