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
      image_size_(model.contract().image_size()) {
  model_.contract().CheckSpec(spec_);  // so spec_ makes images of exactly image_size_ floats
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

std::optional<ImageFailure> ImageEmbedder::PreparePixels(const Image& rgb, std::span<float> slot) const {
  try {
    CheckDimensions(static_cast<std::uint64_t>(std::max(rgb.width, 0)),
                    static_cast<std::uint64_t>(std::max(rgb.height, 0)),
                    DecodeOptionsFor(spec_, max_pixels_));
    Preprocess(rgb, spec_, model_.input_layout(), slot);
  } catch (const InputError& e) {
    return ImageFailure{"preprocess", e.what()};
  }
  return std::nullopt;
}

std::optional<ImageFailure> ImageEmbedder::PrepareOpenCv(const OpenCvPixels& pixels,
                                                         std::span<float> slot) const {
  Image rgb;
  try {
    rgb = ImageFromOpenCv(pixels, DecodeOptionsFor(spec_, max_pixels_));
  } catch (const InputError& e) {
    return ImageFailure{"decode", e.what()};
  }
  return PreparePixels(rgb, slot);
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
