#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "orchard/image/image.h"
#include "orchard/image/opencv_pixels.h"
#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"

namespace orchard {

// Why one image gave no feature row, and at which step: "decode", "preprocess" or "inference".
struct ImageFailure {
  std::string stage;
  std::string message;
};

// The one path from encoded image bytes to feature rows, shared by `orchard run`, predict and serve, the
// Python binding and Spark: each image is decoded and preprocessed straight into its slot of the model's
// input tensor, the model runs over a batch of slots, and a row the model made non-finite is that image's
// failure. The caller owns the batch tensors, so it can fill slots from several threads (Prepare is
// thread-safe) and hand whole batches to Embed (thread-safe up to the model's streams).
class ImageEmbedder {
 public:
  // `spec` is checked against the model's contract (ModelContract::CheckSpec: ModelError when it does not
  // fit). `max_pixels`: images announcing more are refused from their header.
  ImageEmbedder(EmbeddingModel& model, PreprocessSpec spec, std::uint64_t max_pixels);

  // Floats one image takes in the model's input tensor: 3 × height × width.
  std::size_t image_size() const { return image_size_; }
  std::size_t feature_dim() const { return model_.feature_dim(); }
  const PreprocessSpec& spec() const { return spec_; }
  EmbeddingModel& model() const { return model_; }

  // Decodes `bytes` (JPEG, PNG or WebP) and writes the network's input into `slot` (image_size() floats).
  // An unsupported, corrupt or oversized image is returned as its failure; other errors propagate.
  std::optional<ImageFailure> Prepare(std::span<const std::uint8_t> bytes, std::span<float> slot) const;

  // The same for a picture already decoded (R, G, B interleaved, as a decoder gives it), held to the same
  // pixel limit: an empty or oversized picture is returned as its failure.
  std::optional<ImageFailure> PreparePixels(const Image& rgb, std::span<float> slot) const;

  // The same for pixels decoded by another reader in OpenCV's layout (Spark's image data source): converted
  // to R, G, B by ImageFromOpenCv under the same pixel limit, then PreparePixels. A picture that is missing,
  // oversized or does not match its declared size is returned as a "decode" failure.
  std::optional<ImageFailure> PrepareOpenCv(const OpenCvPixels& pixels, std::span<float> slot) const;

  // Runs the model on the first n slots of `batch` (n × image_size() floats) and writes n × feature_dim()
  // floats into `features`. Returns the failure of each row that holds Inf or NaN (a model can overflow on
  // some input), nullopt for the good ones. Model failures throw ModelError: they are not the image's fault.
  std::vector<std::optional<ImageFailure>> Embed(std::span<const float> batch, std::size_t n,
                                                 std::span<float> features) const;

 private:
  EmbeddingModel& model_;
  PreprocessSpec spec_;
  std::uint64_t max_pixels_;
  std::size_t image_size_;
};

}  // namespace orchard
