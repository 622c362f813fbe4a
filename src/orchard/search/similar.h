#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "orchard/index/cosine_index.h"
#include "orchard/pca/pca_model.h"
#include "orchard/pipeline/output_layout.h"

namespace orchard {

// One indexed image as an answer: its output row's path and label, and its cosine distance (1 - cosine
// similarity, 0 = same direction) to the query.
struct SimilarImage {
  std::string path;
  std::string label;
  float distance = 0.0f;
};

// An output's index (`orchard index`) with what turns an image's CNN features into the indexed vector: the
// indexed column, and for "pca" the output's own PCA.
class SimilarIndex {
 public:
  // Throws UsageError when the output has no index, IoError when it or its PCA cannot be read.
  static SimilarIndex Open(const std::string& output);

  // The output's _SUCCESS (model reference and preprocessing the features were made with).
  const nlohmann::json& manifest() const { return manifest_; }
  std::size_t size() const { return index_.size(); }

  // The k indexed images most similar to one image's CNN features (feature_dim floats), nearest first.
  // Throws std::invalid_argument when `features` has another dimension than the output's.
  std::vector<SimilarImage> Search(std::span<const float> features, std::size_t k) const;

 private:
  SimilarIndex(CosineIndex index, std::optional<PcaModel> pca, nlohmann::json manifest);

  CosineIndex index_;
  std::optional<PcaModel> pca_;  // set when the index is over the pca column
  nlohmann::json manifest_;
};

// [{path, label, distance}], nearest first: the answer of `orchard similar` and POST /v1/similar.
nlohmann::json SimilarJson(const std::vector<SimilarImage>& images);

// What `orchard similar` is told.
struct SimilarOptions {
  std::string index;                // output folder or URI holding an index (`orchard index`)
  std::vector<std::string> images;  // paths or URIs of query images
  std::size_t k = 20;
};

// Embeds each image with the output's own model and preprocessing (ImageEmbedder, checked against the
// model's sha256) and writes one JSON line per image to `out`, in order: {"path", "similar": [...]}, or
// {"path", "error"} for an image that cannot be read or decoded. Returns the number of such images.
// Throws UsageError (no index), IoError, ModelError (the model changed since the run).
std::size_t WriteSimilar(const SimilarOptions& options, std::ostream& out, std::ostream& log);

}  // namespace orchard
