#include "pca_functions.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "arrow_capsule.h"
#include "arrow_columns.h"
#include "numpy_arrays.h"
#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pca/pca_model.h"
#include "orchard/storage/arrow_status.h"

namespace orchard::python {
namespace {

using namespace nb::literals;
using RowMajorMap = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using F32In = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using F64VecIn = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using F64MatIn = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using NumpyPartial = std::tuple<std::int64_t, nb::ndarray<nb::numpy, double>, nb::ndarray<nb::numpy, double>>;
using Partial = std::tuple<std::int64_t, F64VecIn, F64MatIn>;

// ---- One implementation, whatever the container
// -------------------------------------------------------------

// The merged moments of everything seen so far; empty until the first non-empty part.
using Total = std::optional<CovarianceAccumulator>;

void MergeInto(Total& total, const CovarianceAccumulator& part) {
  if (part.count() == 0) return;
  if (total) {
    total->Merge(part);
  } else {
    total.emplace(part);
  }
}

void AddRows(Total& total, std::span<const float> rows, std::size_t n, std::size_t dim) {
  if (n == 0) return;
  CovarianceAccumulator part(dim);
  part.AddRows(rows, n);
  MergeInto(total, part);
}

void AddMoments(Total& total, std::int64_t count, std::span<const double> mean,
                std::span<const double> scatter, const std::string& what) {
  const auto dim = static_cast<Eigen::Index>(mean.size());
  if (scatter.size() != mean.size() * mean.size()) {
    throw std::invalid_argument(
        what + ": a partial's scatter is not D x D for its mean of D = " + std::to_string(dim));
  }
  if (count == 0) return;
  MergeInto(total,
            CovarianceAccumulator::FromMoments(count, Eigen::Map<const Eigen::VectorXd>(mean.data(), dim),
                                               RowMajorMap(scatter.data(), dim, dim)));
}

const CovarianceAccumulator& Require(const Total& total, const std::string& what) {
  if (!total) throw std::invalid_argument(what + ": no rows (PCA needs at least 2 featurised images)");
  return *total;
}

PcaModel ProjectionModel(std::span<const double> mean, std::span<const double> components, std::size_t k,
                         std::size_t dim, const std::string& what) {
  if (mean.size() != dim || components.size() != k * dim) {
    throw std::invalid_argument(what + ": features (D = " + std::to_string(dim) +
                                "), mean and components disagree on the dimension");
  }
  PcaModel model;
  model.mean = Eigen::Map<const Eigen::VectorXd>(mean.data(), static_cast<Eigen::Index>(dim));
  model.components =
      RowMajorMap(components.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(dim));
  return model;
}

nb::dict PcaDict(const PcaModel& model) {
  const std::size_t dim = model.dim(), k = model.k();
  nb::dict out;
  out["mean"] = ToNumpy(ToStd(model.mean), {dim});
  out["components"] = ToNumpy(RowMajor(model.components), {k, dim});
  out["explained_variance"] = ToNumpy(ToStd(model.explained_variance), {k});
  out["explained_variance_ratio"] = ToNumpy(ToStd(model.explained_variance_ratio), {k});
  out["total_variance"] = model.total_variance;
  out["n_samples"] = model.n_samples;
  return out;
}

PcaModel Fit(const CovarianceAccumulator& total, std::size_t k, double variance) {
  PcaSelection selection;
  selection.k = k;
  selection.variance_fraction = variance;
  return PcaModel::Fit(total, selection);
}

// ---- numpy
// ------------------------------------------------------------------------------------------------------

NumpyPartial ToNumpyPartial(const CovarianceAccumulator& total) {
  const std::size_t dim = total.dim();
  return {total.count(), ToNumpy(ToStd(total.mean()), {dim}), ToNumpy(RowMajor(total.scatter()), {dim, dim})};
}

Total MergeNumpy(const std::vector<Partial>& partials, const std::string& what) {
  Total total;
  for (const auto& [count, mean, scatter] : partials) {
    AddMoments(total, count, {mean.data(), mean.shape(0)},
               {scatter.data(), scatter.shape(0) * scatter.shape(1)}, what);
  }
  return total;
}

// (count, mean[D], scatter[D, D]) of the rows: the exact, mergeable moments (Chan et al.), not raw sums,
// which cancel catastrophically for CNN features with a large common offset.
NumpyPartial CovariancePartial(F32In rows) {
  if (rows.shape(1) == 0) throw nb::value_error("covariance_partial: features have no columns");
  CovarianceAccumulator total(rows.shape(1));
  {
    nb::gil_scoped_release release;
    total.AddRows({rows.data(), rows.size()}, rows.shape(0));
  }
  return ToNumpyPartial(total);
}

NumpyPartial MergePartials(const std::vector<Partial>& partials) {
  return ToNumpyPartial(Require(MergeNumpy(partials, "merge_partials"), "merge_partials"));
}

// The moments of `total`'s rows without `part`'s (rows of inputs deleted or replaced since a stored total was
// written; README, "Incremental runs").
NumpyPartial SubtractPartial(const Partial& total, const Partial& part) {
  CovarianceAccumulator remaining = Require(MergeNumpy({total}, "subtract_partial"), "subtract_partial");
  const Total removed = MergeNumpy({part}, "subtract_partial");
  try {
    if (removed) remaining.Subtract(*removed);
  } catch (const std::invalid_argument& e) {
    throw nb::value_error(e.what());
  }
  return ToNumpyPartial(remaining);
}

nb::dict FitPca(const std::vector<Partial>& partials, std::size_t k, double variance) {
  return PcaDict(Fit(Require(MergeNumpy(partials, "fit_pca"), "fit_pca"), k, variance));
}

nb::ndarray<nb::numpy, float> PcaTransform(F32In rows, F64VecIn mean, F64MatIn components) {
  const std::size_t n = rows.shape(0), dim = rows.shape(1), k = components.shape(0);
  const PcaModel model = ProjectionModel({mean.data(), mean.shape(0)}, {components.data(), components.size()},
                                         k, dim, "pca_transform");
  std::vector<float> out(n * k);
  {
    nb::gil_scoped_release release;
    model.Transform({rows.data(), n * dim}, n, out);
  }
  return ToNumpy(std::move(out), {n, k});
}

// ---- Arrow
// ------------------------------------------------------------------------------------------------------

std::shared_ptr<arrow::Schema> PartialSchema() {
  const auto doubles = arrow::list(arrow::field("element", arrow::float64()));
  return arrow::schema({arrow::field("count", arrow::int64(), false), arrow::field("mean", doubles),
                        arrow::field("scatter", doubles)});
}

// One partial row, or no row when nothing was seen (an empty Spark partition).
nb::object ToArrowPartial(const Total& total) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  if (total) {
    const std::size_t dim = total->dim();
    const auto count =
        std::make_shared<arrow::Int64Array>(1, arrow::Buffer::FromVector(std::vector{total->count()}));
    batches.push_back(arrow::RecordBatch::Make(PartialSchema(), 1,
                                               {count, ListColumn(ToStd(total->mean()), 1, dim),
                                                ListColumn(RowMajor(total->scatter()), 1, dim * dim)}));
  }
  return nb::cast(ArrowBatches(PartialSchema(), std::move(batches)));
}

Total MergeArrow(nb::handle partials, const std::string& what) {
  const ImportedBatches imported = ImportBatches(partials, what);
  nb::gil_scoped_release release;
  Total total;
  for (const auto& batch : imported.batches) {
    const auto counts = RequireColumn(*batch, "count", what);
    if (counts->type_id() != arrow::Type::INT64 || counts->null_count() > 0) {
      throw std::invalid_argument(what + ": column 'count' must be int64 without nulls");
    }
    const auto means = RequireColumn(*batch, "mean", what), scatters = RequireColumn(*batch, "scatter", what);
    for (std::int64_t row = 0; row < batch->num_rows(); ++row) {
      AddMoments(total, static_cast<const arrow::Int64Array&>(*counts).Value(row),
                 ListRow<double>(*means, row, what + ": column 'mean'"),
                 ListRow<double>(*scatters, row, what + ": column 'scatter'"), what);
    }
  }
  return total;
}

nb::object CovariancePartialArrow(nb::handle source) {
  const std::string what = "covariance_partial_arrow";
  const ImportedBatches imported = ImportBatches(source, what);
  Total total;
  {
    nb::gil_scoped_release release;
    for (const auto& batch : imported.batches) {
      const auto rows =
          ReadListRows<float>(*RequireColumn(*batch, "features", what), what + ": column 'features'");
      AddRows(total, rows.values, rows.rows, rows.dim);
    }
  }
  return ToArrowPartial(total);
}

nb::object MergePartialsArrow(nb::handle partials) {
  return ToArrowPartial(MergeArrow(partials, "merge_partials_arrow"));
}

nb::dict FitPcaArrow(nb::handle partials, std::size_t k, double variance) {
  const std::string what = "fit_pca_arrow";
  return PcaDict(Fit(Require(MergeArrow(partials, what), what), k, variance));
}

nb::object PcaTransformArrow(nb::handle source, F64VecIn mean, F64MatIn components) {
  const std::string what = "pca_transform_arrow";
  const ImportedBatches imported = ImportBatches(source, what);
  const std::size_t k = components.shape(0), dim = components.shape(1);
  const PcaModel model =
      ProjectionModel({mean.data(), mean.shape(0)}, {components.data(), components.size()}, k, dim, what);
  const auto pca_field = arrow::field("pca", arrow::list(arrow::field("element", arrow::float32())));
  const auto schema = ValueOrThrow(imported.schema->AddField(imported.schema->num_fields(), pca_field), what);
  std::vector<std::shared_ptr<arrow::RecordBatch>> projected;
  {
    nb::gil_scoped_release release;
    for (const auto& batch : imported.batches) {
      const auto rows = ReadListRows<float>(*RequireColumn(*batch, "features", what),
                                            what + ": column 'features' (filter the error rows out first)");
      if (rows.rows > 0 && rows.dim != dim) {
        throw std::invalid_argument(what + ": features have D = " + std::to_string(rows.dim) +
                                    ", the PCA was fitted on D = " + std::to_string(dim));
      }
      std::vector<float> out(rows.rows * k);
      model.Transform(rows.values, rows.rows, out);
      auto column = ListColumn(std::move(out), rows.rows, k);
      projected.push_back(ValueOrThrow(batch->AddColumn(batch->num_columns(), pca_field, column), what));
    }
  }
  return nb::cast(ArrowBatches(schema, std::move(projected)));
}

}  // namespace

void BindPcaFunctions(nb::module_& m) {
  m.def("covariance_partial", &CovariancePartial, "features"_a,
        "(count, mean float64[D], scatter float64[D, D]) of float32 rows [n, D]: a mergeable PCA partial.");
  m.def("merge_partials", &MergePartials, "partials"_a,
        "Merges partials [(count, mean, scatter)] exactly (Chan et al.) into one (count, mean, scatter).");
  m.def(
      "subtract_partial", &SubtractPartial, "total"_a, "part"_a,
      "The partial (count, mean, scatter) of `total`'s rows without those of `part`, a subset of them (e.g. "
      "the rows of inputs deleted since `total` was stored). ValueError when `part` has more rows.");
  m.def("fit_pca", &FitPca, "partials"_a, "k"_a = 0, "variance"_a = 0.95,
        "Merges partials [(count, mean, scatter)] and fits the exact PCA: k > 0 keeps k components, else the "
        "fewest reaching `variance`. Returns a dict of mean, components [k, D], explained_variance, "
        "explained_variance_ratio, total_variance, n_samples.");
  m.def("pca_transform", &PcaTransform, "features"_a, "mean"_a, "components"_a,
        "(features - mean) . components^T, computed in double, as float32 [n, k].");
  m.def(
      "covariance_partial_arrow", &CovariancePartialArrow, "batches"_a,
      "The partial of the `features` column (list<float>, no nulls) of Arrow batches (__arrow_c_array__ or "
      "__arrow_c_stream__): ArrowBatches of one row `count, mean list<double>, scatter list<double>`, or no "
      "row when there were no rows.");
  m.def("merge_partials_arrow", &MergePartialsArrow, "partials"_a,
        "Merges Arrow partial rows (covariance_partial_arrow's) into one such row.");
  m.def("fit_pca_arrow", &FitPcaArrow, "partials"_a, "k"_a = 0, "variance"_a = 0.95,
        "fit_pca() over Arrow partial rows.");
  m.def("pca_transform_arrow", &PcaTransformArrow, "batches"_a, "mean"_a, "components"_a,
        "The Arrow batches with a `pca` list<float> column appended: pca_transform() of their `features`.");
}

}  // namespace orchard::python
