#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"
#include "orchard/pca/pca_model.h"
#include "orchard/recognition/logistic_classifier.h"

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
//                         description (solver, C, standardisation), training facts
//   pca.parquet           the run's PCA (table/pca_model_file.h format)
//   classifier.liblinear  liblinear's own model file
struct Bundle {
  static constexpr int kFormatVersion = 1;

  ModelReference model;
  PreprocessSpec preprocess;
  PcaModel pca;
  LogisticClassifier classifier;
  std::vector<std::string> labels;  // class index -> label
  nlohmann::json training;          // provenance: source output, split, row counts

  // Creates `dir` if needed; replaces the bundle files in it, each atomically (a temporary name, then a
  // rename), bundle.json last. Throws IoError.
  void Save(const std::filesystem::path& dir) const;
  // Throws IoError naming the file when anything is missing, unreadable or inconsistent.
  static Bundle Load(const std::filesystem::path& dir);
};

// Reads the referenced model's bytes, checks them against the sha256 and compiles the model with the
// bundle's feature tensor and precision. Throws ModelError when the file is unreadable or its sha256 differs
// (the bundle's classifier would silently give wrong answers on another model's features). `batch_size` is
// the batch it is compiled for where the precision makes the batch static (UsesStaticBatch, as `orchard run`
// does): 1 for callers that mostly bring one image, the batcher's batch for the service.
EmbeddingModel OpenVerifiedModel(const ModelReference& reference, int threads = 0,
                                 std::size_t batch_size = 1);

}  // namespace orchard
