#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/image/preprocess_spec.h"
#include "orchard/model/model_contract.h"

namespace orchard {

enum class Precision { kF32, kBf16, kInt8 };

std::string_view PrecisionName(Precision precision);
Precision ParsePrecision(std::string_view name);  // "f32" | "bf16" | "int8"; UsageError otherwise

struct ModelOptions {
  std::filesystem::path path;  // ONNX or TFLite file
  // Tensor whose value is the feature vector. Empty: the input of the last global-average-pooling op (see
  // FindFeatureCandidates). A spatial tensor is averaged over its own spatial axes to one vector.
  std::string feature_tensor;
  // f32 by default so that features do not depend on the CPU that computed them.
  Precision precision = Precision::kF32;
  int threads = 0;  // inference threads; 0 = OpenVINO's choice
  // The batch the model is compiled for (a static shape: see EmbeddingModel); a graph that hard-codes its
  // batch runs at that one (ModelContract::BatchFor). An image's features never depend on the batch it is in.
  std::size_t batch_size = kDefaultModelBatch;
  // Further static batches compiled beside batch_size, for callers whose calls are often short: the service
  // compiles batch 1 too, so that a lone request does not pay a whole padded batch (as Triton and OpenVINO
  // Model Server do). A call of n images then runs on the smallest compiled batch holding n
  // (CompiledBatchFor). Each costs one more compilation and its own compiled graph in memory. Ignored for a
  // graph that hard-codes its batch; sizes of 0 or above batch_size are ignored.
  std::vector<std::size_t> extra_batches;
  // Inference streams: Embed calls that can run at once, each on its own infer request. 1: one stream across
  // all cores (OpenVINO's LATENCY hint). N > 1: N streams sharing the cores (THROUGHPUT). 0: as many as the
  // THROUGHPUT hint chooses (2 on 2 cores): a stream per core runs each layer on one thread, with no
  // hand-over between threads at every layer (MobileNetV2-int8 at f32, then on a dynamic batch, 2
  // cores: 1.09-1.16x the images/s with a fifth of the system time on an AMD EPYC Zen 3 and ~1.1x on an Intel
  // Xeon; features bit for bit the same). Extra streams only pay with as many concurrent callers.
  int streams = 1;

  static constexpr std::size_t kDefaultModelBatch = 8;
};

// A CNN cut at its feature tensor and compiled once for the CPU with OpenVINO, for static batches: static
// shapes are faster (bf16 ResNet50 +25%; the default quantised MobileNetV2 at f32 1.72x the images/s of a
// dynamic batch on an AMD EPYC Zen 3, its features bit for bit the same now that its quantisation is computed
// in float, ComputeQuantisationInFloat; before that, the static graph's rounding was not the model's: cosine
// 0.995 worst to onnxruntime, and quantised models at f32 kept a dynamic batch).
// Embed() is thread-safe: up to streams() calls run at once, more wait for a free request.
class EmbeddingModel {
 public:
  // Throws ModelError (with the path in the message) when the file cannot be read, cut or compiled.
  explicit EmbeddingModel(const ModelOptions& options);
  ~EmbeddingModel();
  EmbeddingModel(EmbeddingModel&&) noexcept;
  EmbeddingModel& operator=(EmbeddingModel&&) noexcept;

  // What the model file says about its input, batch and feature tensor (model_contract.h).
  const ModelContract& contract() const;
  TensorLayout input_layout() const;
  int input_width() const;
  int input_height() const;
  std::size_t feature_dim() const;
  const std::string& feature_tensor() const;  // the tensor actually used
  std::size_t batch_size() const;  // the largest compiled batch: longer calls are cut into calls of it
  // The static batches compiled, ascending (batch_size() last).
  const std::vector<std::size_t>& compiled_batches() const;
  // The compiled batch a call of n images (n cut to batch_size()) runs on, padded up to it: the smallest of
  // compiled_batches() holding n.
  std::size_t CompiledBatchFor(std::size_t n) const;
  int streams() const;

  // `batch` holds n preprocessed images in input_layout(); writes n * feature_dim() floats into `features`.
  // Any n: runs in calls of batch_size images, the last one on CompiledBatchFor(its size), padded.
  void Embed(std::span<const float> batch, std::size_t n, std::span<float> features);

  // contract().NotesText() and, for an int8 run whose convolutions do not run in int8 (a quantisation the
  // CPU plugin's low-precision transformations do not fuse, e.g. a uint8 TFLite model's; a QDQ model's, and
  // an ONNX model's QLinearConv as orchard translates them at int8, are fused), a note naming the precision
  // they run in ("bf16", "f32", as OpenVINO's runtime graph reports it): speed and numbers are then those of
  // that precision.
  std::string NotesText() const;

  // Writes the graph this model runs (cut, pooled; batch left dynamic) as OpenVINO IR, e.g. for
  // benchmark_app: `xml` and its weights beside it (.bin). Throws UsageError, before writing, when the .bin
  // exists without the .xml (not an earlier export's pair), IoError when the files cannot be written.
  void SaveAsIr(const std::filesystem::path& xml) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orchard
