#include "orchard/recognition/training.h"

#include <map>
#include <span>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/recognition/bundle.h"
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

}  // namespace

TrainResult TrainBundle(const TrainOptions& options, std::ostream& log) {
  const OutputLayout layout{ResolveLocation(options.output)};
  const nlohmann::json manifest = ReadRunManifest(layout);
  const LabelledRows rows = ReadLabelledRows(layout, manifest, "pca", options.split);

  std::map<std::string, int> counts;
  for (const auto& label : rows.labels) ++counts[label];
  std::vector<std::string> labels;
  std::map<std::string, int> index;
  for (const auto& [label, count] : counts) {
    index[label] = static_cast<int>(labels.size());
    labels.push_back(label);
  }
  if (labels.size() < 2)
    throw UsageError("split '" + options.split + "' has a single label; nothing to tell apart");
  std::vector<int> classes;
  classes.reserve(rows.size());
  for (const auto& label : rows.labels) classes.push_back(index[label]);

  log << "orchard: training on " << rows.size() << " rows of " << labels.size() << " labels (" << rows.dim
      << " PCA components)\n";
  LogisticClassifier classifier =
      LogisticClassifier::Train(rows.values, rows.dim, classes, labels.size(), options.classifier);
  TrainResult result{rows.size(), labels.size(), Accuracy(classifier, rows, classes), {}};
  result.training = {{"output", layout.root.uri()},
                     {"split", options.split},
                     {"rows", rows.size()},
                     {"rows_per_label", counts},
                     {"training_accuracy", result.training_accuracy}};
  const Location pca_file = PcaModelFile(layout, manifest);
  const Bundle bundle{ModelReference::FromJson(manifest.at("model")),
                      PreprocessSpec::FromJson(manifest.at("preprocess")),
                      ReadPcaModel(pca_file.fs, pca_file.path),
                      std::move(classifier),
                      labels,
                      result.training};
  if (bundle.pca.k() != rows.dim) throw IoError(pca_file.uri() + " does not match the pca column");
  bundle.Save(options.bundle);
  return result;
}

}  // namespace orchard
