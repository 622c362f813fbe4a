#include "orchard/recognition/recognizer.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "orchard/common/error.h"

namespace orchard {

std::optional<std::string> Recognition::label() const {
  if (unknown || top_k.empty()) return std::nullopt;
  return top_k.front().label;
}

nlohmann::ordered_json RecognitionJson(const Recognition& result) {
  if (!result.ok()) return {{"error", result.error}};
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (const auto& scored : result.top_k)
    top.push_back({{"label", scored.label}, {"probability", scored.probability}});
  const auto label = result.label();
  nlohmann::ordered_json json = {{"label", label ? nlohmann::ordered_json(*label) : nullptr},
                                 {"unknown", result.unknown}};
  if (result.unknown_score) json["unknown_score"] = *result.unknown_score;
  json["top_k"] = std::move(top);
  if (!result.features.empty()) {
    json["features"] = result.features;
    json["pca"] = result.pca;
  }
  return json;
}

std::vector<std::size_t> TopK(std::span<const float> probabilities, std::size_t k) {
  std::vector<std::size_t> order(probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      return probabilities[a] > probabilities[b] ||
                             (probabilities[a] == probabilities[b] && a < b);
                    });
  order.resize(k);
  return order;
}

Recognizer::Recognizer(Bundle bundle, int model_threads, std::uint64_t max_pixels, std::size_t batch_size,
                       std::vector<std::size_t> extra_batches)
    : bundle_(std::move(bundle)),
      model_(OpenVerifiedModel(bundle_.model, model_threads, batch_size, std::move(extra_batches))),
      embedder_(model_, bundle_.preprocess, max_pixels) {}

PreparedImage Recognizer::Prepare(std::span<const std::uint8_t> bytes) const {
  PreparedImage prepared{std::vector<float>(embedder_.image_size())};
  if (auto failure = embedder_.Prepare(bytes, prepared.tensor)) throw InputError(failure->message);
  return prepared;
}

PreparedImage Recognizer::PreparePixels(const Image& rgb) const {
  PreparedImage prepared{std::vector<float>(embedder_.image_size())};
  if (auto failure = embedder_.PreparePixels(rgb, prepared.tensor)) throw InputError(failure->message);
  return prepared;
}

std::vector<Recognition> Recognizer::Classify(std::span<const PreparedImage* const> images,
                                              const RecognizeOptions& options) {
  const std::size_t n = images.size();
  const std::size_t dim = model_.feature_dim();
  const std::size_t k = bundle_.pca.k();
  const std::size_t classes = bundle_.labels.size();
  const std::size_t image_size = embedder_.image_size();
  // The batch's model input (n x image_size floats, ~10 MB for 16 images at 224 x 224) is kept per thread
  // between calls: allocated per call it was mapped, zeroed, faulted in and unmapped at every batch (serve
  // maps blocks over 1 MiB), 4-5% of a loaded service's CPU (perf, 64 clients).
  thread_local std::vector<float> scratch;
  if (scratch.size() < n * image_size) scratch.resize(n * image_size);
  const std::span<float> input(scratch.data(), n * image_size);
  for (std::size_t i = 0; i < n; ++i) {
    if (images[i]->tensor.size() != image_size)
      throw std::invalid_argument("Classify: a prepared image of another size");
    std::copy(images[i]->tensor.begin(), images[i]->tensor.end(), input.begin() + i * image_size);
  }
  std::vector<float> features(n * dim), projected(n * k), probabilities(n * classes);
  const auto failures = embedder_.Embed(input, n, features);
  bundle_.pca.Transform(features, n, projected);
  // The whole batch at once: the open-set whitening (k x D doubles, ~9 MB for MobileNetV2) is then read once
  // per batch, not once per image. A failed image's row is scored too, and the score ignored.
  std::vector<float> unknown_scores(bundle_.open_set ? n : 0);
  if (bundle_.open_set) bundle_.open_set->Score(features, n, unknown_scores);

  std::vector<Recognition> results(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = std::span<const float>(features).subspan(i * dim, dim);
    if (failures[i]) {
      results[i].error = failures[i]->message;
      continue;
    }
    const auto probs = std::span<float>(probabilities).subspan(i * classes, classes);
    bundle_.PredictProbabilities(row, std::span<const float>(projected).subspan(i * k, k), 1, probs);
    for (const std::size_t c : TopK(probs, options.top_k))
      results[i].top_k.push_back({bundle_.labels[c], probs[c]});
    if (bundle_.open_set) {
      results[i].unknown_score = unknown_scores[i];
      results[i].unknown = bundle_.open_set->IsUnknown(unknown_scores[i]);
    }
    if (options.keep_features) {
      results[i].features.assign(row.begin(), row.end());
      results[i].pca.assign(projected.begin() + i * k, projected.begin() + (i + 1) * k);
    }
  }
  return results;
}

std::vector<Recognition> Recognizer::Recognize(std::span<const std::span<const std::uint8_t>> images,
                                               const RecognizeOptions& options) {
  std::vector<Recognition> results(images.size());
  std::vector<PreparedImage> prepared;
  std::vector<std::size_t> where;
  prepared.reserve(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    try {
      prepared.push_back(Prepare(images[i]));
      where.push_back(i);
    } catch (const InputError& e) {
      results[i].error = e.what();
    }
  }
  std::vector<const PreparedImage*> batch;
  for (const auto& p : prepared) batch.push_back(&p);
  auto classified = Classify(batch, options);
  for (std::size_t j = 0; j < where.size(); ++j) results[where[j]] = std::move(classified[j]);
  return results;
}

}  // namespace orchard
