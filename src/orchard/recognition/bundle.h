#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"
#include "orchard/pca/pca_model.h"
#include "orchard/recognition/logistic_classifier.h"
#include "orchard/recognition/open_set.h"

namespace orchard {

// The CNN a bundle was trained on: a reference, not a copy. The sha256 pins the exact bytes.
struct ModelReference {
  std::string file;  // path or URI as the run's _SUCCESS gave it
  std::string sha256;
  std::string feature_tensor;
  std::size_t feature_dim = 0;
  std::string precision;  // "f32" | "bf16" | "int8"

  static ModelReference FromJson(const nlohmann::json& json);  // the "model" object of _SUCCESS
  nlohmann::json ToJson() const;
};

// Everything needed to go from a raw image to a label, as a folder:
//   bundle.json           manifest: format version, model reference, preprocessing spec, labels, classifier
//                         description (input column, solver, C, normalisation), training facts
//   pca.parquet           the run's PCA (table/pca_model_file.h format)
//   classifier.liblinear  liblinear's own model file
//   open_set.parquet      the unknown-fruit detector's shared covariance (PCA file format; its threshold and
//                         class means are in bundle.json), when the training split allowed calibrating it
struct Bundle {
  static constexpr int kFormatVersion = 2;  // 2: classifier input, open set; version 1 bundles still load

  ModelReference model;
  PreprocessSpec preprocess;
  PcaModel pca;
  LogisticClassifier classifier;
  std::string classifier_input;             // what the classifier reads: "features" (the CNN's) or "pca"
  std::vector<std::string> labels;          // class index -> label
  nlohmann::json training;                  // provenance: source output, split, row counts
  std::optional<OpenSetDetector> open_set;  // none: every photo gets a label

  // Creates `dir` if needed; replaces the bundle files in it, each atomically (a temporary name, then a
  // rename), bundle.json last. Throws UsageError when `dir` holds anything but a bundle (CheckFolder()),
  // IoError when a file cannot be written.
  void Save(const std::filesystem::path& dir) const;
  // The guard before a bundle is written to `dir`: it must be missing, empty, or hold a bundle (a bundle.json
  // orchard wrote) and only a bundle's files, their temporary names as regular files (a link there would be
  // written through) and hidden names (.DS_Store), which a bundle never touches. Anything else, such as a
  // run's output, whose pca.parquet a bundle would replace, a user's own files or a folder at a bundle file's
  // name, is a UsageError naming the first such entry; nothing is written. Throws IoError when `dir` cannot
  // be listed.
  static void CheckFolder(const std::filesystem::path& dir);
  // Throws IoError naming the file when anything is missing, unreadable or inconsistent.
  static Bundle Load(const std::filesystem::path& dir);

  // Class probabilities of n images from their features (n x model.feature_dim) and PCA projection
  // (n x pca.k()), whichever the classifier reads: n x labels.size() floats, row-major, into `out`.
  // The one path of predict, serve and eval. Throws std::invalid_argument on wrong sizes.
  void PredictProbabilities(std::span<const float> features, std::span<const float> projected, std::size_t n,
                            std::span<float> out) const;
};

// Reads the referenced model's bytes, checks them against the sha256 and compiles the model with the
// bundle's feature tensor and precision. Throws ModelError when the file is unreadable or its sha256 differs
// (the bundle's classifier would silently give wrong answers on another model's features). `batch_size` is
// the batch it is compiled for: 1 for callers that mostly bring one image, the batcher's batch for the
// service, which also compiles `extra_batches` (ModelOptions::extra_batches: batch 1 for a lone request).
EmbeddingModel OpenVerifiedModel(const ModelReference& reference, int threads = 0, std::size_t batch_size = 1,
                                 std::vector<std::size_t> extra_batches = {});

}  // namespace orchard
