#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "orchard/common/error.h"
#include "orchard/recognition/bundle.h"
#include "orchard/recognition/labelled_rows.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/table/pca_model_file.h"

namespace orchard::cli {
namespace {

struct TrainArguments {
  std::string output;
  std::string bundle;
  std::string split = "Training";
  ClassifierOptions classifier;
  bool no_standardize = false;
};

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

int Train(const TrainArguments& args) {
  const OutputLayout layout{ResolveLocation(args.output)};
  const nlohmann::json manifest = ReadRunManifest(layout);
  const LabelledRows rows = ReadLabelledRows(layout, manifest, "pca", args.split);

  std::map<std::string, int> counts;
  for (const auto& label : rows.labels) ++counts[label];
  std::vector<std::string> labels;
  std::map<std::string, int> index;
  for (const auto& [label, count] : counts) {
    index[label] = static_cast<int>(labels.size());
    labels.push_back(label);
  }
  if (labels.size() < 2)
    throw UsageError("split '" + args.split + "' has a single label; nothing to tell apart");
  std::vector<int> classes;
  classes.reserve(rows.size());
  for (const auto& label : rows.labels) classes.push_back(index[label]);

  ClassifierOptions options = args.classifier;
  options.standardize = !args.no_standardize;
  std::cerr << "orchard: training on " << rows.size() << " rows of " << labels.size() << " labels ("
            << rows.dim << " PCA components)\n";
  LogisticClassifier classifier =
      LogisticClassifier::Train(rows.values, rows.dim, classes, labels.size(), options);
  const double accuracy = Accuracy(classifier, rows, classes);

  const nlohmann::json training = {{"output", layout.root.uri()},
                                   {"split", args.split},
                                   {"rows", rows.size()},
                                   {"rows_per_label", counts},
                                   {"training_accuracy", accuracy}};
  const Bundle bundle{ModelReference::FromJson(manifest.at("model")),
                      PreprocessSpec::FromJson(manifest.at("preprocess")),
                      ReadPcaModel(layout.pca_model().fs, layout.pca_model().path),
                      std::move(classifier),
                      labels,
                      training};
  if (bundle.pca.k() != rows.dim) throw IoError(layout.pca_model().uri() + " does not match the pca column");
  bundle.Save(args.bundle);
  std::cout << std::fixed << std::setprecision(4) << "orchard: trained on " << rows.size() << " images, "
            << labels.size() << " labels; training accuracy " << accuracy << " -> " << args.bundle << "\n";
  return kExitSuccess;
}

}  // namespace

CommandAction RegisterTrainCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "train",
      "Train a fruit classifier (liblinear logistic regression) on a run's PCA features; write a bundle.");
  auto args = std::make_shared<TrainArguments>();
  command
      ->add_option("output", args->output,
                   "Output folder of `orchard run` (features/, pca.parquet, _SUCCESS)")
      ->required();
  command
      ->add_option("--bundle,-b", args->bundle,
                   "Folder to write the bundle to (bundle.json, pca.parquet, classifier.liblinear)")
      ->required();
  command
      ->add_option("--split", args->split,
                   "Train on the rows whose path has this folder above the label folder "
                   "(<root>/<split>/<Label>/<file>)")
      ->capture_default_str();
  command
      ->add_option("--c", args->classifier.c, "Inverse L2 regularisation strength of the logistic regression")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--no-standardize", args->no_standardize,
                    "Do not z-score the PCA features before the logistic regression");
  return [args] { return Train(*args); };
}

}  // namespace orchard::cli
