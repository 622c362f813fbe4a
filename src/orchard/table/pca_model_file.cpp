#include "orchard/table/pca_model_file.h"

#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/storage/location.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

using RowMajorDoubles = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::shared_ptr<arrow::Schema> PcaSchema(std::size_t dim) {
  return arrow::schema({
      arrow::field("component", arrow::int32(), /*nullable=*/false),
      arrow::field("explained_variance", arrow::float64(), false),
      arrow::field("explained_variance_ratio", arrow::float64(), false),
      arrow::field("vector", arrow::fixed_size_list(arrow::float64(), static_cast<std::int32_t>(dim)), false),
  });
}

std::string MetadataJson(const PcaModel& model) {
  const nlohmann::json json = {
      {"format_version", kPcaFormatVersion},
      {"dim", model.dim()},
      {"k", model.k()},
      {"total_variance", model.total_variance},
      {"n_samples", model.n_samples},
      {"mean", std::vector<double>(model.mean.begin(), model.mean.end())},
  };
  return json.dump();
}

std::shared_ptr<arrow::Array> MakeDoubleArray(const double* data, std::size_t n) {
  arrow::DoubleBuilder builder;
  ThrowIfError(builder.AppendValues(data, static_cast<std::int64_t>(n)), "building PCA columns");
  return ValueOrThrow(builder.Finish(), "building PCA columns");
}

std::shared_ptr<arrow::Table> ModelTable(const PcaModel& model) {
  arrow::Int32Builder ids;
  for (std::size_t i = 0; i < model.k(); ++i) {
    ThrowIfError(ids.Append(static_cast<std::int32_t>(i)), "building PCA columns");
  }
  // Eigen stores column-major; the list column wants each component's entries contiguous.
  const RowMajorDoubles components = model.components;
  const auto vectors = ValueOrThrow(
      arrow::FixedSizeListArray::FromArrays(MakeDoubleArray(components.data(), components.size()),
                                            static_cast<std::int32_t>(model.dim())),
      "building PCA columns");
  auto schema = PcaSchema(model.dim())
                    ->WithMetadata(arrow::key_value_metadata({kPcaMetadataKey}, {MetadataJson(model)}));
  return arrow::Table::Make(std::move(schema),
                            {ValueOrThrow(ids.Finish(), "building PCA columns"),
                             MakeDoubleArray(model.explained_variance.data(), model.k()),
                             MakeDoubleArray(model.explained_variance_ratio.data(), model.k()), vectors},
                            static_cast<std::int64_t>(model.k()));
}

[[noreturn]] void ThrowInvalid(const std::string& path, const std::string& why) {
  throw IoError(path + ": not an orchard PCA model: " + why);
}

// The column as one contiguous array of the expected type, or an IoError.
template <class ArrayType>
std::shared_ptr<ArrayType> Column(const arrow::Table& table, const std::string& name,
                                  const std::string& path) {
  const auto column = table.GetColumnByName(name);
  if (!column) ThrowInvalid(path, "missing column '" + name + "'");
  const auto array = ValueOrThrow(arrow::Concatenate(column->chunks()), path);
  auto typed = std::dynamic_pointer_cast<ArrayType>(array);
  if (!typed || typed->null_count() > 0)
    ThrowInvalid(path, "column '" + name + "' has the wrong type or nulls");
  return typed;
}

Eigen::VectorXd ToVector(const arrow::DoubleArray& array) {
  return Eigen::Map<const Eigen::VectorXd>(array.raw_values(), array.length());
}

// Fills the scalar fields and mean from the JSON metadata; returns k.
std::size_t ReadMetadata(const arrow::KeyValueMetadata* metadata, const std::string& path, PcaModel& model) {
  const int index = metadata ? metadata->FindKey(kPcaMetadataKey) : -1;
  if (index < 0) ThrowInvalid(path, std::string("no '") + kPcaMetadataKey + "' metadata");
  try {
    const auto json = nlohmann::json::parse(metadata->value(index));
    if (json.at("format_version").get<int>() != kPcaFormatVersion) {
      ThrowInvalid(path, "unsupported format_version " + json.at("format_version").dump());
    }
    const auto mean = json.at("mean").get<std::vector<double>>();
    if (mean.size() != json.at("dim").get<std::size_t>()) ThrowInvalid(path, "mean length differs from dim");
    model.mean = Eigen::Map<const Eigen::VectorXd>(mean.data(), static_cast<Eigen::Index>(mean.size()));
    model.total_variance = json.at("total_variance").get<double>();
    model.n_samples = json.at("n_samples").get<std::int64_t>();
    return json.at("k").get<std::size_t>();
  } catch (const nlohmann::json::exception& e) {
    ThrowInvalid(path, std::string("bad metadata JSON: ") + e.what());
  }
}

}  // namespace

void WritePcaModel(const PcaModel& model, const std::shared_ptr<arrow::fs::FileSystem>& fs,
                   const std::string& path) {
  const auto table = ModelTable(model);
  // store_schema keeps `vector` a fixed_size_list on read; plain Parquet would hand back a variable list.
  const auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  WriteAtomically({fs, path}, [&](const Location& target) {
    auto sink = ValueOrThrow(target.fs->OpenOutputStream(target.path), target.uri());
    ThrowIfError(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink,
                                            parquet::DEFAULT_MAX_ROW_GROUP_LENGTH,
                                            parquet::default_writer_properties(), arrow_properties),
                 target.uri());
    ThrowIfError(sink->Close(), target.uri());
  });
}

PcaModel ReadPcaModel(const std::shared_ptr<arrow::fs::FileSystem>& fs, const std::string& path) {
  auto input = ValueOrThrow(fs->OpenInputFile(path), path);
  auto reader = ValueOrThrow(OpenVerifiedParquet(input), path);
  const auto table = ValueOrThrow(reader->ReadTable(), path);

  PcaModel model;
  const std::size_t k =
      ReadMetadata(reader->parquet_reader()->metadata()->key_value_metadata().get(), path, model);
  if (static_cast<std::size_t>(table->num_rows()) != k) ThrowInvalid(path, "row count differs from k");
  const auto ids = Column<arrow::Int32Array>(*table, "component", path);
  for (std::int64_t i = 0; i < ids->length(); ++i) {
    if (ids->Value(i) != i) ThrowInvalid(path, "components are not numbered 0..k-1 in order");
  }
  model.explained_variance = ToVector(*Column<arrow::DoubleArray>(*table, "explained_variance", path));
  model.explained_variance_ratio =
      ToVector(*Column<arrow::DoubleArray>(*table, "explained_variance_ratio", path));

  const auto vectors = Column<arrow::FixedSizeListArray>(*table, "vector", path);
  const auto values = std::dynamic_pointer_cast<arrow::DoubleArray>(vectors->Flatten().ValueOr(nullptr));
  if (vectors->list_type()->list_size() != static_cast<std::int32_t>(model.dim()) || !values ||
      values->null_count() > 0) {
    ThrowInvalid(path, "column 'vector' is not fixed_size_list<double>[dim]");
  }
  model.components = Eigen::Map<const RowMajorDoubles>(values->raw_values(), static_cast<Eigen::Index>(k),
                                                       static_cast<Eigen::Index>(model.dim()));
  return model;
}

}  // namespace orchard
