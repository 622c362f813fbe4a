// orchard.Featurizer: decode, preprocess and embed images with a model compiled once, for Python callers.
#pragma once

#include <arrow/record_batch.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "orchard/image/opencv_pixels.h"
#include "orchard/model/image_embedder.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/storage/location.h"

namespace orchard::python {

namespace nb = nanobind;

using ErrorTuple = std::tuple<std::int64_t, std::string, std::string>;  // (index, stage, message)

// One image: its pixels when a reader decoded it already (Spark's image source), else its bytes when the
// caller has them, else the path (local or s3://) is read. `length`: the file's size as a listing gave it
// (Spark's binaryFile `length`), checked against the size limit before anything else.
struct ImageInput {
  std::string path;
  std::optional<std::span<const std::uint8_t>> bytes;
  std::optional<std::int64_t> length;
  std::optional<OpenCvPixels> pixels;
};

// Row i of `features` (row-major, feature_dim wide) belongs to input i; rows of failed inputs are NaN and
// listed in `errors`, sorted by index, with stage read | decode | preprocess | inference.
struct FeatureRows {
  std::vector<float> features;
  std::vector<ErrorTuple> errors;
};

// Spark's binaryFile source names local files `file:/a/b c.jpg`; `orchard run` writes `/a/b c.jpg`. Returns
// the latter for file: URIs and anything else (local paths, s3://) unchanged.
std::string OutputPath(std::string_view path_or_uri);

class Featurizer {
 public:
  Featurizer(const std::string& model_path, const std::string& preset, const std::string& feature_tensor,
             const std::string& precision, int threads, std::uint64_t max_pixels,
             std::int64_t max_file_bytes);

  std::size_t feature_dim() const { return loaded_->model.feature_dim(); }
  const std::string& feature_tensor() const { return loaded_->model.feature_tensor(); }
  const std::string& sha256() const { return loaded_->sha256; }
  // The preprocessing spec applied (PreprocessSpec::ToJson, as `orchard run`'s _SUCCESS has it), JSON text.
  std::string preprocess_json() const { return embedder_->spec().ToJson().dump(); }

  // Python lists in, numpy out: (float32 [n, D], errors). `contents` holds bytes or None (read the path).
  // Raises OSError when storage fails and RuntimeError when the model fails (a Spark task is then retried);
  // an image that cannot be read, decoded or embedded is an error entry.
  std::tuple<nb::ndarray<nb::numpy, float>, std::vector<ErrorTuple>> Featurize(
      const std::vector<std::string>& paths, std::optional<nb::list> contents, std::size_t batch_size);

  // Arrow in, Arrow out (arrow_capsule.h): `source` has a string column `path` (a local path, a file: URI as
  // Spark writes them, or s3://), optionally a binary column `content` (null: read the path) and an int64
  // column `length` (a file over the size limit is an error row, neither read nor looked at). Returns one
  // row per input: path (file: prefix dropped, as `orchard run` writes paths), label (the parent folder),
  // features list<float> (null on error), stage and message (null when it worked).
  // Or, instead of path/content/length, a struct column `image` as Spark's image source reads it (origin
  // string, height, width, nChannels, mode int32, data binary: decoded pixels, OpenCvPixels' layout): the
  // row's path is its origin, its pixels go through the decoded files' preprocessing (a missing or
  // inconsistent picture is a "decode" error row naming the reason).
  nb::object FeaturizeArrow(nb::handle source, std::size_t batch_size);

 private:
  std::shared_ptr<arrow::RecordBatch> FeaturizeBatch(const arrow::RecordBatch& batch, std::size_t batch_size);
  // Fills `slot` from one input's pixels, bytes or file; returns its failure, if any.
  std::optional<ImageFailure> PrepareInput(const ImageInput& image_input, std::span<float> slot,
                                           const char*& stage) const;
  // Runs with the GIL released; one caller at a time (the model's infer request is not shared).
  FeatureRows Run(std::span<const ImageInput> inputs, std::size_t batch_size);
  void RunBatch(std::span<const ImageInput> inputs, std::size_t start, std::size_t count,
                std::vector<float>& input, std::vector<float>& out, FeatureRows& rows);
  std::vector<char> PrepareBatch(std::span<const ImageInput> inputs, std::size_t start, std::size_t count,
                                 std::vector<float>& input, FeatureRows& rows);

  int threads_ = 1;
  std::int64_t max_file_bytes_ = kDefaultMaxFileBytes;  // larger inputs are "read" error entries
  std::unique_ptr<LoadedModel> loaded_;
  std::unique_ptr<ImageEmbedder> embedder_;  // over loaded_->model
  std::mutex mutex_;
};

}  // namespace orchard::python
