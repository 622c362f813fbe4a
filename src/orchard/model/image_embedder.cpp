#include "orchard/model/image_embedder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "orchard/common/error.h"
#include "orchard/image/preprocess.h"

namespace orchard {

ImageEmbedder::ImageEmbedder(EmbeddingModel& model, PreprocessSpec spec, std::uint64_t max_pixels)
    : model_(model),
      spec_(std::move(spec)),
      max_pixels_(max_pixels),
      image_size_(std::size_t{3} * static_cast<std::size_t>(spec_.width) *
                  static_cast<std::size_t>(spec_.height)) {
  model_.contract().CheckSpec(spec_);
}

std::optional<ImageFailure> ImageEmbedder::Prepare(std::span<const std::uint8_t> bytes,
                                                   std::span<float> slot) const {
  const char* stage = "decode";
  try {
    DecodeAndPreprocess(bytes, spec_, model_.input_layout(), max_pixels_, slot, stage);
  } catch (const InputError& e) {
    return ImageFailure{stage, e.what()};
  }
  return std::nullopt;
}

std::vector<std::optional<ImageFailure>> ImageEmbedder::Embed(std::span<const float> batch, std::size_t n,
                                                              std::span<float> features) const {
  const std::size_t dim = feature_dim();
  if (batch.size() < n * image_size_ || features.size() < n * dim) {
    throw std::invalid_argument("ImageEmbedder::Embed: " + std::to_string(n) + " images need " +
                                std::to_string(n * image_size_) + " input and " + std::to_string(n * dim) +
                                " feature floats, got " + std::to_string(batch.size()) + " and " +
                                std::to_string(features.size()));
  }
  model_.Embed(batch.first(n * image_size_), n, features.first(n * dim));
  std::vector<std::optional<ImageFailure>> failures(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = features.subspan(i * dim, dim);
    if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) {
      failures[i] = ImageFailure{"inference", "the model produced non-finite features"};
    }
  }
  return failures;
}

}  // namespace orchard
