#include "featurizer.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <thread>

#include "arrow_capsule.h"
#include "arrow_columns.h"
#include "numpy_arrays.h"
#include "orchard/common/error.h"
#include "orchard/common/threads.h"
#include "orchard/image/preprocess.h"
#include "orchard/storage/input_listing.h"
#include "orchard/storage/location.h"

namespace orchard::python {
namespace {

std::shared_ptr<arrow::Schema> FeaturizedSchema() {
  return arrow::schema({arrow::field("path", arrow::utf8()), arrow::field("label", arrow::utf8()),
                        arrow::field("features", arrow::list(arrow::field("element", arrow::float32()))),
                        arrow::field("stage", arrow::utf8()), arrow::field("message", arrow::utf8())});
}

std::span<const std::uint8_t> AsBytes(std::string_view view) {
  return {reinterpret_cast<const std::uint8_t*>(view.data()), view.size()};
}

std::vector<std::optional<std::string>> Labels(std::span<const ImageInput> inputs) {
  std::vector<std::optional<std::string>> labels;
  labels.reserve(inputs.size());
  // The label rule of `orchard run`'s listing (string operations only, so any URI works).
  for (const auto& input : inputs) labels.emplace_back(FolderLabel(Location{nullptr, input.path}));
  return labels;
}

std::shared_ptr<arrow::RecordBatch> FeaturizedBatch(std::span<const ImageInput> inputs, FeatureRows&& rows,
                                                    std::size_t dim) {
  const std::size_t n = inputs.size();
  std::vector<std::optional<std::string>> paths, stages(n), messages(n);
  paths.reserve(n);
  for (const auto& input : inputs) paths.emplace_back(input.path);
  std::vector<bool> valid(n, true);
  for (auto& [index, stage, message] : rows.errors) {
    const auto i = static_cast<std::size_t>(index);
    valid[i] = false;
    stages[i] = std::move(stage);
    messages[i] = std::move(message);
  }
  return arrow::RecordBatch::Make(
      FeaturizedSchema(), static_cast<std::int64_t>(n),
      {StringColumn(paths), StringColumn(Labels(inputs)), ListColumn(std::move(rows.features), n, dim, valid),
       StringColumn(stages), StringColumn(messages)});
}

// java.net.URI's %XX escapes decoded (anything else kept as it is): Spark's image source gives each file's
// origin as a URI (`file:///a/b%20c.jpg`), where binaryFile gives Hadoop's Path.toString() (`file:/a/b
// c.jpg`).
std::string PercentDecoded(std::string_view uri) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(uri.size());
  for (std::size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size() && hex(uri[i + 1]) >= 0 && hex(uri[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(uri[i + 1]) * 16 + hex(uri[i + 2])));
      i += 2;
    } else {
      out.push_back(uri[i]);
    }
  }
  return out;
}

// Spark's image source rows: path = origin (percent-decoded, file: prefix dropped: binaryFile's path for the
// same file), pixels viewed in place. A null field reads as absent (size 0 or no data), so that row becomes a
// "decode" error row rather than a failed task; only a row without origin (nothing to name the error row by)
// is refused.
std::vector<ImageInput> ImageStructInputs(const arrow::Array& column, const std::string& what) {
  const ImageStruct image = ReadImageStruct(column, what);
  std::vector<ImageInput> inputs(static_cast<std::size_t>(column.length()));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!image.origins[i])
      throw std::invalid_argument(what + ": row " + std::to_string(i) + " has no origin");
    inputs[i].path = OutputPath(PercentDecoded(*image.origins[i]));
    const auto row = static_cast<std::int64_t>(i);
    const auto value = [row](const arrow::Int32Array& field, int absent) {
      return field.IsValid(row) ? field.Value(row) : absent;
    };
    OpenCvPixels pixels{value(*image.height, 0),
                        value(*image.width, 0),
                        value(*image.channels, 0),
                        value(*image.mode, -1),
                        {}};
    if (image.data[i]) pixels.data = AsBytes(*image.data[i]);
    inputs[i].pixels = pixels;
  }
  return inputs;
}

}  // namespace

std::string OutputPath(std::string_view path_or_uri) {
  // Hadoop's Path.toString() is `file:` + the path as it is, not percent-encoded (a file named `a%41 b.jpg`
  // stays so), hence no URI decoding here; `file:///a` names the same file as `file:/a`.
  // `file://host/a` (another machine) is kept.
  if (path_or_uri.starts_with("file:///")) return std::string(path_or_uri.substr(7));
  if (path_or_uri.starts_with("file:/") && !path_or_uri.starts_with("file://")) {
    return std::string(path_or_uri.substr(5));
  }
  return std::string(path_or_uri);
}

Featurizer::Featurizer(const std::string& model_path, const std::string& preset,
                       const std::string& feature_tensor, const std::string& precision, int threads,
                       std::uint64_t max_pixels, std::int64_t max_file_bytes)
    : max_file_bytes_(max_file_bytes) {
  ModelOptions options;
  options.path = model_path;
  options.feature_tensor = feature_tensor;
  options.precision = ParsePrecision(precision);
  options.threads = threads;
  threads_ = ThreadsOrCores(threads);
  nb::gil_scoped_release release;
  loaded_ = std::make_unique<LoadedModel>(LoadModel(options));
  embedder_ =
      std::make_unique<ImageEmbedder>(loaded_->model, loaded_->model.contract().Spec(preset), max_pixels);
}

std::tuple<nb::ndarray<nb::numpy, float>, std::vector<ErrorTuple>> Featurizer::Featurize(
    const std::vector<std::string>& paths, std::optional<nb::list> contents, std::size_t batch_size) {
  const std::size_t n = paths.size();
  if (contents && nb::len(*contents) != n)
    throw nb::value_error("featurize: paths and contents differ in length");
  std::vector<ImageInput> inputs(n);
  // References to the bytes objects, so that the views below stay valid while the GIL is released even if
  // another thread changes `contents` meanwhile.
  std::vector<nb::bytes> held;
  held.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    inputs[i].path = paths[i];
    if (contents && !(*contents)[i].is_none()) {
      const nb::bytes& bytes = held.emplace_back(nb::cast<nb::bytes>((*contents)[i]));
      inputs[i].bytes = AsBytes({bytes.c_str(), bytes.size()});
    }
  }
  FeatureRows rows;
  {
    nb::gil_scoped_release release;
    rows = Run(inputs, batch_size);
  }
  return {ToNumpy(std::move(rows.features), {n, feature_dim()}), std::move(rows.errors)};
}

nb::object Featurizer::FeaturizeArrow(nb::handle source, std::size_t batch_size) {
  const std::string what = "featurize_arrow";
  const ImportedBatches imported = ImportBatches(source, what);
  std::vector<std::shared_ptr<arrow::RecordBatch>> featurized;
  {
    nb::gil_scoped_release release;
    for (const auto& batch : imported.batches) featurized.push_back(FeaturizeBatch(*batch, batch_size));
  }
  return nb::cast(ArrowBatches(FeaturizedSchema(), std::move(featurized)));
}

std::shared_ptr<arrow::RecordBatch> Featurizer::FeaturizeBatch(const arrow::RecordBatch& batch,
                                                               std::size_t batch_size) {
  const std::string what = "featurize_arrow";
  if (auto image = batch.GetColumnByName("image")) {
    const std::vector<ImageInput> inputs = ImageStructInputs(*image, what + ": column 'image'");
    return FeaturizedBatch(inputs, Run(inputs, batch_size), feature_dim());
  }
  const auto paths = ByteViews(*RequireColumn(batch, "path", what), what + ": column 'path'");
  std::vector<std::optional<std::string_view>> contents;
  if (auto content = batch.GetColumnByName("content"))
    contents = ByteViews(*content, what + ": column 'content'");
  const auto lengths = batch.GetColumnByName("length");
  if (lengths && lengths->type_id() != arrow::Type::INT64)
    throw std::invalid_argument(what + ": column 'length' is not int64");
  std::vector<ImageInput> inputs(paths.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!paths[i]) throw std::invalid_argument(what + ": row " + std::to_string(i) + " has a null path");
    inputs[i].path = OutputPath(*paths[i]);
    if (!contents.empty() && contents[i]) inputs[i].bytes = AsBytes(*contents[i]);
    if (lengths && lengths->IsValid(static_cast<std::int64_t>(i)))
      inputs[i].length = static_cast<const arrow::Int64Array&>(*lengths).Value(static_cast<std::int64_t>(i));
  }
  return FeaturizedBatch(inputs, Run(inputs, batch_size), feature_dim());
}

FeatureRows Featurizer::Run(std::span<const ImageInput> inputs, std::size_t batch_size) {
  if (batch_size == 0) throw std::invalid_argument("featurize: batch must be positive");
  const std::size_t dim = feature_dim();
  FeatureRows rows{std::vector<float>(inputs.size() * dim, std::nanf("")), {}};
  const std::size_t slots = std::min(batch_size, inputs.size());
  std::vector<float> input(slots * embedder_->image_size()), out(slots * dim);
  std::lock_guard lock(mutex_);
  for (std::size_t start = 0; start < inputs.size(); start += batch_size) {
    RunBatch(inputs, start, std::min(batch_size, inputs.size() - start), input, out, rows);
  }
  std::sort(rows.errors.begin(), rows.errors.end());
  return rows;
}

std::optional<ImageFailure> Featurizer::PrepareInput(const ImageInput& image_input, std::span<float> slot,
                                                     const char*& stage) const {
  if (image_input.pixels) {
    stage = "decode";
    return embedder_->PrepareOpenCv(*image_input.pixels, slot);
  }
  std::shared_ptr<arrow::Buffer> owned;
  std::span<const std::uint8_t> bytes;
  if (image_input.length) CheckFileSize(*image_input.length, max_file_bytes_);
  if (image_input.bytes) {
    bytes = *image_input.bytes;
    CheckFileSize(static_cast<std::int64_t>(bytes.size()), max_file_bytes_);
  } else {
    owned = ReadAll(ResolveLocation(image_input.path), {}, max_file_bytes_);
    bytes = {owned->data(), static_cast<std::size_t>(owned->size())};
  }
  stage = "decode";
  return embedder_->Prepare(bytes, slot);
}

// Reads (when the caller gave no bytes), decodes and preprocesses inputs [start, start + count) in parallel,
// each image straight into its slot of the batch tensor `input`. Returns which slots hold an image; the
// others are error entries. A storage failure is rethrown: it is not the image's fault.
std::vector<char> Featurizer::PrepareBatch(std::span<const ImageInput> inputs, std::size_t start,
                                           std::size_t count, std::vector<float>& input, FeatureRows& rows) {
  const std::size_t image_size = embedder_->image_size();
  std::vector<char> ok(count, 0);
  std::mutex errors_mutex;
  std::exception_ptr storage_failure;
  const auto fail = [&](std::size_t j, std::string stage, std::string message) {
    std::lock_guard lock(errors_mutex);
    rows.errors.emplace_back(static_cast<std::int64_t>(start + j), std::move(stage), std::move(message));
  };
  auto prepare = [&](std::size_t j) {
    const char* stage = "read";
    try {
      const auto failure =
          PrepareInput(inputs[start + j], std::span(input).subspan(j * image_size, image_size), stage);
      if (failure) return fail(j, failure->stage, failure->message);
      ok[j] = 1;
    } catch (const IoError&) {
      std::lock_guard lock(errors_mutex);
      if (!storage_failure) storage_failure = std::current_exception();
    } catch (const std::exception& e) {
      fail(j, stage, e.what());  // a missing file (InputError), or an unexpected failure on this image
    }
  };
  const std::size_t workers = std::clamp<std::size_t>(static_cast<std::size_t>(threads_), 1, count);
  {
    std::vector<std::jthread> pool;  // joined at the end of this block, before `ok` is read
    for (std::size_t w = 1; w < workers; ++w) {
      pool.emplace_back([&, w] {
        for (std::size_t j = w; j < count; j += workers) prepare(j);
      });
    }
    for (std::size_t j = 0; j < count; j += workers) prepare(j);
  }
  if (storage_failure) std::rethrow_exception(storage_failure);
  return ok;
}

void Featurizer::RunBatch(std::span<const ImageInput> inputs, std::size_t start, std::size_t count,
                          std::vector<float>& input, std::vector<float>& out, FeatureRows& rows) {
  const std::vector<char> ok = PrepareBatch(inputs, start, count, input, rows);
  const std::size_t dim = feature_dim();
  const std::size_t image_size = embedder_->image_size();
  // Compact the good images to the front of the batch, embed them, scatter the rows back.
  std::vector<std::size_t> good;
  for (std::size_t j = 0; j < count; ++j) {
    if (!ok[j]) continue;
    if (good.size() != j) {
      std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(j * image_size), image_size,
                  input.begin() + static_cast<std::ptrdiff_t>(good.size() * image_size));
    }
    good.push_back(j);
  }
  if (good.empty()) return;
  // A model failure propagates (RuntimeError in Python): a Spark task is then retried rather than turning
  // every image of the batch into a null row.
  const auto failures = embedder_->Embed(input, good.size(), out);
  for (std::size_t g = 0; g < good.size(); ++g) {
    const std::size_t i = start + good[g];
    if (failures[g]) {
      rows.errors.emplace_back(static_cast<std::int64_t>(i), failures[g]->stage, failures[g]->message);
      continue;
    }
    std::copy_n(out.data() + g * dim, dim, rows.features.begin() + static_cast<std::ptrdiff_t>(i * dim));
  }
}

}  // namespace orchard::python
