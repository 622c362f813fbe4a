// orchard._core: the C++ core for Python (orchard.spark runs it inside Spark's Python workers).
// Arrays cross as numpy buffers (no per-row Python objects); image bytes are read in place from the Python
// `bytes` objects, and all work runs with the GIL released.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"
#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"
#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pca/pca_model.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/storage/location.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace orchard {
namespace {

using F32Matrix = nb::ndarray<nb::numpy, float>;
using F64Vector = nb::ndarray<nb::numpy, double>;
using F64Matrix = nb::ndarray<nb::numpy, double>;
using F32In = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using F64VecIn = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using F64MatIn = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// A numpy array owning a heap vector (no copy).
template <typename T>
nb::ndarray<nb::numpy, T> ToNumpy(std::vector<T>&& values, std::initializer_list<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

std::vector<double> ToStd(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }
std::vector<double> RowMajor(const Eigen::MatrixXd& m) {
  std::vector<double> out(static_cast<std::size_t>(m.size()));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.data(), m.rows(),
                                                                                      m.cols()) = m;
  return out;
}

using ErrorTuple = std::tuple<std::int64_t, std::string, std::string>;

class Featurizer {
 public:
  Featurizer(const std::string& model_path, const std::string& preset, const std::string& feature_tensor,
             const std::string& precision, int threads, std::uint64_t max_pixels)
      : spec_(PreprocessSpec::FromPreset(preset)), max_pixels_(max_pixels) {
    ModelOptions options;
    options.path = model_path;
    options.feature_tensor = feature_tensor;
    options.precision = ParsePrecision(precision);
    options.threads = threads;
    threads_ = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    nb::gil_scoped_release release;
    loaded_ = std::make_unique<LoadedModel>(LoadModel(options));
    spec_.width = loaded_->model.input_width();
    spec_.height = loaded_->model.input_height();
  }

  std::size_t feature_dim() const { return loaded_->model.feature_dim(); }
  const std::string& feature_tensor() const { return loaded_->model.feature_tensor(); }
  const std::string& sha256() const { return loaded_->sha256; }

  // Features of every input, row i for input i; rows of failed inputs are NaN and listed in the errors as
  // (index, stage, message) with stage read | decode | preprocess | inference.
  std::tuple<F32Matrix, std::vector<ErrorTuple>> Featurize(const std::vector<std::string>& paths,
                                                           std::optional<nb::list> contents,
                                                           std::size_t batch_size) {
    const std::size_t n = paths.size();
    if (contents && nb::len(*contents) != n) {
      throw nb::value_error("featurize: paths and contents differ in length");
    }
    if (batch_size == 0) throw nb::value_error("featurize: batch must be positive");
    // Views of the bytes objects, taken under the GIL; `contents` keeps them alive for the whole call.
    std::vector<std::span<const std::uint8_t>> views;
    std::vector<bool> missing(n, false);
    if (contents) {
      views.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        nb::handle item = (*contents)[i];
        if (item.is_none()) {
          missing[i] = true;
          continue;
        }
        nb::bytes b = nb::cast<nb::bytes>(item);
        views[i] = {reinterpret_cast<const std::uint8_t*>(b.c_str()), b.size()};
      }
    }
    const std::size_t dim = feature_dim();
    std::vector<float> features(n * dim, std::nanf(""));
    std::vector<ErrorTuple> errors;
    {
      nb::gil_scoped_release release;
      std::lock_guard lock(mutex_);  // Embed() is one caller at a time
      Run(paths, views, missing, batch_size, features, errors);
    }
    std::sort(errors.begin(), errors.end());
    return {ToNumpy(std::move(features), {n, dim}), std::move(errors)};
  }

  // Like Featurize, with the images given as one Arrow binary column's buffers, without a copy: `data` the
  // values, `offsets` n + 1 absolute offsets into it (an Arrow array's offsets, sliced to the array).
  std::tuple<F32Matrix, std::vector<ErrorTuple>> FeaturizeBinary(
      const std::vector<std::string>& paths, nb::ndarray<const std::uint8_t, nb::ndim<1>, nb::c_contig> data,
      nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig> offsets, std::size_t batch_size) {
    const std::size_t n = paths.size();
    if (offsets.shape(0) != n + 1) throw nb::value_error("featurize_binary: need len(paths) + 1 offsets");
    if (batch_size == 0) throw nb::value_error("featurize_binary: batch must be positive");
    std::vector<std::span<const std::uint8_t>> views(n);
    std::vector<bool> missing(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t begin = offsets(i), end = offsets(i + 1);
      if (begin < 0 || end < begin || static_cast<std::size_t>(end) > data.shape(0)) {
        throw nb::value_error("featurize_binary: offsets out of range");
      }
      views[i] = {data.data() + begin, static_cast<std::size_t>(end - begin)};
    }
    const std::size_t dim = feature_dim();
    std::vector<float> features(n * dim, std::nanf(""));
    std::vector<ErrorTuple> errors;
    {
      nb::gil_scoped_release release;
      std::lock_guard lock(mutex_);
      Run(paths, views, missing, batch_size, features, errors);
    }
    std::sort(errors.begin(), errors.end());
    return {ToNumpy(std::move(features), {n, dim}), std::move(errors)};
  }

 private:
  void Run(const std::vector<std::string>& paths, const std::vector<std::span<const std::uint8_t>>& views,
           const std::vector<bool>& missing, std::size_t batch_size, std::vector<float>& features,
           std::vector<ErrorTuple>& errors) {
    EmbeddingModel& model = loaded_->model;
    const std::size_t n = paths.size();
    const std::size_t dim = model.feature_dim();
    const std::size_t image_size = 3 * static_cast<std::size_t>(spec_.width) * spec_.height;
    std::vector<float> input(batch_size * image_size);
    std::vector<float> out(batch_size * dim);
    std::mutex errors_mutex;
    for (std::size_t start = 0; start < n; start += batch_size) {
      const std::size_t count = std::min(batch_size, n - start);
      std::vector<char> ok(count, 0);
      // Decode and preprocess the batch in parallel, each image straight into its slot of the batch tensor.
      auto prepare = [&](std::size_t j) {
        const std::size_t i = start + j;
        const char* stage = "read";
        try {
          std::shared_ptr<arrow::Buffer> owned;
          std::span<const std::uint8_t> bytes;
          if (!views.empty() && !missing[i]) {
            bytes = views[i];
          } else {
            owned = ReadAll(ResolveLocation(paths[i]));
            bytes = {owned->data(), static_cast<std::size_t>(owned->size())};
          }
          stage = "decode";
          const Image image = DecodeImage(bytes, DecodeOptionsFor(spec_, max_pixels_));
          stage = "preprocess";
          Preprocess(image, spec_, model.input_layout(),
                     std::span(input).subspan(j * image_size, image_size));
          ok[j] = 1;
        } catch (const std::exception& e) {
          std::lock_guard lock(errors_mutex);
          errors.emplace_back(static_cast<std::int64_t>(i), stage, e.what());
        }
      };
      const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads_), count);
      if (workers <= 1) {
        for (std::size_t j = 0; j < count; ++j) prepare(j);
      } else {
        std::vector<std::jthread> pool;
        for (std::size_t w = 0; w < workers; ++w) {
          pool.emplace_back([&, w] {
            for (std::size_t j = w; j < count; j += workers) prepare(j);
          });
        }
      }
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
      if (good.empty()) continue;
      try {
        model.Embed(std::span<const float>(input).first(good.size() * image_size), good.size(),
                    std::span(out).first(good.size() * dim));
      } catch (const std::exception& e) {
        for (std::size_t j : good) errors.emplace_back(static_cast<std::int64_t>(start + j), "inference", e.what());
        continue;
      }
      for (std::size_t g = 0; g < good.size(); ++g) {
        const float* row = out.data() + g * dim;
        const std::size_t i = start + good[g];
        if (!std::all_of(row, row + dim, [](float v) { return std::isfinite(v); })) {
          errors.emplace_back(static_cast<std::int64_t>(i), "inference", "model produced non-finite features");
          continue;
        }
        std::copy_n(row, dim, features.begin() + static_cast<std::ptrdiff_t>(i * dim));
      }
    }
  }

  PreprocessSpec spec_;
  std::uint64_t max_pixels_;
  int threads_ = 1;
  std::unique_ptr<LoadedModel> loaded_;
  std::mutex mutex_;
};

// (count, mean[D], scatter[D, D]) of the rows: the exact, mergeable moments (Chan et al.), not raw sums,
// which cancel catastrophically for CNN features with a large common offset.
std::tuple<std::int64_t, F64Vector, F64Matrix> CovariancePartial(F32In rows) {
  const std::size_t n = rows.shape(0), dim = rows.shape(1);
  if (dim == 0) throw nb::value_error("covariance_partial: features have no columns");
  std::int64_t count;
  std::vector<double> mean, scatter;
  {
    nb::gil_scoped_release release;
    CovarianceAccumulator acc(dim);
    acc.AddRows({rows.data(), n * dim}, n);
    count = acc.count();
    mean = ToStd(acc.mean());
    scatter = RowMajor(acc.scatter());
  }
  return {count, ToNumpy(std::move(mean), {dim}), ToNumpy(std::move(scatter), {dim, dim})};
}

using Partial = std::tuple<std::int64_t, F64VecIn, F64MatIn>;

CovarianceAccumulator MergeAll(const std::vector<Partial>& partials) {
  std::optional<CovarianceAccumulator> total;
  for (const auto& [count, mean_in, scatter_in] : partials) {
    const auto dim = static_cast<Eigen::Index>(mean_in.shape(0));
    if (scatter_in.shape(0) != mean_in.shape(0) || scatter_in.shape(1) != mean_in.shape(0)) {
      throw std::invalid_argument("fit_pca: a partial's scatter does not match its mean");
    }
    const Eigen::VectorXd mean = Eigen::Map<const Eigen::VectorXd>(mean_in.data(), dim);
    const Eigen::MatrixXd scatter =
        Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            scatter_in.data(), dim, dim);
    auto part = CovarianceAccumulator::FromMoments(count, mean, scatter);
    if (!total) {
      total.emplace(std::move(part));
    } else {
      total->Merge(part);
    }
  }
  return std::move(*total);
}

// Merges partials of covariance_partial() into one (count, mean, scatter), e.g. per Spark partition.
std::tuple<std::int64_t, F64Vector, F64Matrix> MergePartials(const std::vector<Partial>& partials) {
  if (partials.empty()) throw nb::value_error("merge_partials: no partials");
  std::int64_t count;
  std::vector<double> mean, scatter;
  std::size_t dim;
  {
    nb::gil_scoped_release release;
    const CovarianceAccumulator total = MergeAll(partials);
    count = total.count();
    dim = total.dim();
    mean = ToStd(total.mean());
    scatter = RowMajor(total.scatter());
  }
  return {count, ToNumpy(std::move(mean), {dim}), ToNumpy(std::move(scatter), {dim, dim})};
}

// Merges partials of covariance_partial() and fits the exact PCA, like `orchard run`.
nb::dict FitPca(const std::vector<Partial>& partials, std::size_t k, double variance) {
  if (partials.empty()) throw nb::value_error("fit_pca: no partials");
  PcaModel model;
  {
    nb::gil_scoped_release release;
    const CovarianceAccumulator total = MergeAll(partials);
    PcaSelection selection;
    selection.k = k;
    selection.variance_fraction = variance;
    model = PcaModel::Fit(total, selection);
  }
  const std::size_t dim = model.dim(), kk = model.k();
  nb::dict out;
  out["mean"] = ToNumpy(ToStd(model.mean), {dim});
  out["components"] = ToNumpy(RowMajor(model.components), {kk, dim});
  out["explained_variance"] = ToNumpy(ToStd(model.explained_variance), {kk});
  out["explained_variance_ratio"] = ToNumpy(ToStd(model.explained_variance_ratio), {kk});
  out["total_variance"] = model.total_variance;
  out["n_samples"] = model.n_samples;
  return out;
}

// (features - mean) . components^T in double, rounded once to float32: PcaModel::Transform.
F32Matrix PcaTransform(F32In rows, F64VecIn mean, F64MatIn components) {
  const std::size_t n = rows.shape(0), dim = rows.shape(1), k = components.shape(0);
  if (mean.shape(0) != dim || components.shape(1) != dim) {
    throw nb::value_error("pca_transform: features, mean and components disagree on the dimension");
  }
  std::vector<float> out(n * k);
  {
    nb::gil_scoped_release release;
    PcaModel model;
    model.mean = Eigen::Map<const Eigen::VectorXd>(mean.data(), static_cast<Eigen::Index>(dim));
    model.components = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        components.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(dim));
    model.Transform({rows.data(), n * dim}, n, out);
  }
  return ToNumpy(std::move(out), {n, k});
}

}  // namespace
}  // namespace orchard

NB_MODULE(_core, m) {
  using namespace orchard;
  m.doc() = "orchard's C++ core: featurisation (decode, preprocess, OpenVINO) and exact PCA";
  m.attr("__version__") = ORCHARD_VERSION;
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ModelError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
  nb::class_<Featurizer>(m, "Featurizer")
      .def(nb::init<const std::string&, const std::string&, const std::string&, const std::string&, int,
                    std::uint64_t>(),
           "model_path"_a, "preset"_a = "imagenet", "feature_tensor"_a = "", "precision"_a = "f32",
           "threads"_a = 0, "max_pixels"_a = 100'000'000ULL,
           "Compiles the model once (an ONNX/TFLite path or URI); preset: imagenet | caffe | tf.")
      .def_prop_ro("feature_dim", &Featurizer::feature_dim)
      .def_prop_ro("feature_tensor", &Featurizer::feature_tensor)
      .def_prop_ro("sha256", &Featurizer::sha256)
      .def("featurize", &Featurizer::Featurize, "paths"_a, "contents"_a = nb::none(), "batch"_a = 32,
           "Returns (features float32[n, D], errors [(index, stage, message)]). Row i belongs to input i; rows "
           "of failed inputs are NaN. Without contents (or where an entry is None), the path is read by the C++ "
           "side (local path or s3:// URI). A bad image is an error entry, never an exception.")
      .def("featurize_binary", &Featurizer::FeaturizeBinary, "paths"_a, "data"_a, "offsets"_a, "batch"_a = 32,
           "featurize() over an Arrow binary column's buffers (uint8 data, int64 offsets[n + 1]), zero-copy.");
  m.def("covariance_partial", &CovariancePartial, "features"_a,
        "(count, mean float64[D], scatter float64[D, D]) of float32 rows [n, D]: a mergeable PCA partial.");
  m.def("merge_partials", &MergePartials, "partials"_a,
        "Merges partials [(count, mean, scatter)] exactly (Chan et al.) into one (count, mean, scatter).");
  m.def("fit_pca", &FitPca, "partials"_a, "k"_a = 0, "variance"_a = 0.95,
        "Merges partials [(count, mean, scatter)] and fits the exact PCA: k > 0 keeps k components, else the "
        "fewest reaching `variance`. Returns a dict of mean, components [k, D], explained_variance, "
        "explained_variance_ratio, total_variance, n_samples.");
  m.def("pca_transform", &PcaTransform, "features"_a, "mean"_a, "components"_a,
        "(features - mean) . components^T, computed in double, as float32 [n, k].");
}
