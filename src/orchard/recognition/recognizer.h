#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "orchard/image/image.h"
#include "orchard/model/embedding_model.h"
#include "orchard/model/image_embedder.h"
#include "orchard/recognition/bundle.h"

namespace orchard {

struct ScoredLabel {
  std::string label;
  float probability = 0.0f;
};

// One image, decoded and preprocessed: exactly what the network receives.
struct PreparedImage {
  std::vector<float> tensor;
};

struct Recognition {
  std::string error;               // non-empty when this image could not be recognised (the reason)
  std::vector<ScoredLabel> top_k;  // most probable first
  std::vector<float> features;     // the CNN features, when asked for
  std::vector<float> pca;          // the PCA projection, when asked for
  // The open-set score (OpenSetDetector: squared Mahalanobis distance to the nearest class mean) and whether
  // it is over the bundle's threshold; no score when the bundle has no detector.
  std::optional<float> unknown_score;
  bool unknown = false;
  bool ok() const { return error.empty(); }
  // The answer's label: the most probable one, or none when the photo is unknown.
  std::optional<std::string> label() const;
};

// The answer of predict and serve's /v1/predict: {"label" (null when unknown), "unknown", "unknown_score"
// (when the bundle has a detector), "top_k": [{label, probability}]} (+ "features", "pca" when kept), or
// {"error"}. The one JSON shape of a recognition; callers put their own keys (the path) first.
nlohmann::ordered_json RecognitionJson(const Recognition& result);

struct RecognizeOptions {
  std::size_t top_k = 5;
  bool keep_features = false;
};

// A bundle made runnable: raw image bytes -> decode -> preprocess -> CNN -> PCA -> classifier, exactly the
// steps and settings `orchard run` used for the training features.
// Prepare() is thread-safe (callers decode in parallel); Classify() runs the model and must be called by one
// thread at a time, with batches of any size.
class Recognizer {
 public:
  // Verifies and compiles the bundle's model (ModelError when it is missing or changed, or when the bundle's
  // preprocessing does not fit it). `batch_size`, `extra_batches`: the model's compiled batches
  // (OpenVerifiedModel).
  Recognizer(Bundle bundle, int model_threads = 0, std::uint64_t max_pixels = 100'000'000,
             std::size_t batch_size = 1, std::vector<std::size_t> extra_batches = {});
  Recognizer(const Recognizer&) = delete;  // embedder_ refers to model_
  Recognizer& operator=(const Recognizer&) = delete;

  // Throws InputError naming the reason when the bytes are not a supported, intact image.
  PreparedImage Prepare(std::span<const std::uint8_t> bytes) const;
  // The same for pixels already decoded (the Python API's numpy arrays and PIL images): R, G, B interleaved,
  // as a decoder gives them, then the same Preprocess. Throws InputError for an empty image or one of more
  // than max_pixels pixels.
  PreparedImage PreparePixels(const Image& rgb) const;

  std::vector<Recognition> Classify(std::span<const PreparedImage* const> images,
                                    const RecognizeOptions& options);

  // Prepare + Classify for a batch; an image that fails gets its own error, the others are still recognised.
  std::vector<Recognition> Recognize(std::span<const std::span<const std::uint8_t>> images,
                                     const RecognizeOptions& options);

  const Bundle& bundle() const { return bundle_; }
  std::size_t feature_dim() const { return model_.feature_dim(); }
  const ModelContract& contract() const { return model_.contract(); }
  const EmbeddingModel& model() const { return model_; }

 private:
  Bundle bundle_;
  EmbeddingModel model_;
  ImageEmbedder embedder_;  // over model_ with the bundle's preprocessing
};

// The k most probable classes of one probability row, most probable first (ties: lower class index first).
std::vector<std::size_t> TopK(std::span<const float> probabilities, std::size_t k);

}  // namespace orchard
