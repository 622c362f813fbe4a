#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "orchard/image/preprocess_spec.h"

namespace orchard {

enum class Precision { kF32, kBf16, kInt8 };

std::string_view PrecisionName(Precision precision);
Precision ParsePrecision(std::string_view name);  // "f32" | "bf16" | "int8"; UsageError otherwise

struct ModelOptions {
  std::filesystem::path path;  // ONNX or TFLite file
  // Tensor whose value is the feature vector. Empty: the global-average-pooled tensor before the classifier
  // (see FindDefaultFeatureTensor). A spatial (rank-4) tensor is globally average-pooled to one vector.
  std::string feature_tensor;
  // f32 by default so that features do not depend on the CPU that computed them.
  Precision precision = Precision::kF32;
  int threads = 0;  // inference threads; 0 = OpenVINO's choice
};

// A CNN cut at its feature tensor and compiled once for the CPU with OpenVINO; batch size is dynamic.
// Embed() is not thread-safe: one caller at a time.
class EmbeddingModel {
 public:
  // Throws ModelError (with the path in the message) when the file cannot be read, cut or compiled.
  explicit EmbeddingModel(const ModelOptions& options);
  ~EmbeddingModel();
  EmbeddingModel(EmbeddingModel&&) noexcept;
  EmbeddingModel& operator=(EmbeddingModel&&) noexcept;

  TensorLayout input_layout() const;
  int input_width() const;
  int input_height() const;
  std::size_t feature_dim() const;
  const std::string& feature_tensor() const;  // the tensor actually used

  // `batch` holds n preprocessed images in input_layout(); writes n * feature_dim() floats into `features`.
  void Embed(std::span<const float> batch, std::size_t n, std::span<float> features);

  // Writes the graph this model runs (cut, pooled, batch dynamic) as OpenVINO IR, e.g. for benchmark_app.
  // Throws IoError when the file cannot be written.
  void SaveAsIr(const std::filesystem::path& xml) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orchard
