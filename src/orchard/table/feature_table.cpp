#include "orchard/table/feature_table.h"

#include <arrow/array.h>
#include <arrow/builder.h>

#include <stdexcept>

#include "orchard/common/utf8.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

std::shared_ptr<arrow::DataType> VectorType(std::size_t dim) {
  return arrow::fixed_size_list(arrow::field("element", arrow::float32(), false), static_cast<int32_t>(dim));
}

// Paths and labels come from file names, which are bytes; Arrow strings must be UTF-8 (see common/utf8.h).
arrow::Status AppendText(arrow::StringBuilder& builder, const std::string& value) {
  return IsValidUtf8(value) ? builder.Append(value) : builder.Append(EscapeInvalidUtf8(value));
}

std::shared_ptr<arrow::Array> StringArray(const std::vector<std::string>& values) {
  arrow::StringBuilder builder;
  for (const auto& value : values) ThrowIfError(AppendText(builder, value), "building string column");
  return ValueOrThrow(builder.Finish(), "building string column");
}

std::shared_ptr<arrow::Array> VectorArray(FloatRows rows, std::size_t count) {
  if (rows.values.size() != rows.dim * count) throw std::invalid_argument("vector column size mismatch");
  auto values = std::make_shared<arrow::FloatArray>(
      static_cast<int64_t>(rows.values.size()),
      arrow::Buffer::FromVector(std::vector<float>(rows.values.begin(), rows.values.end())));
  return ValueOrThrow(arrow::FixedSizeListArray::FromArrays(values, VectorType(rows.dim)),
                      "building vector column");
}

}  // namespace

std::shared_ptr<arrow::Schema> FeatureSchema(std::size_t feature_dim, std::size_t pca_dim) {
  arrow::FieldVector fields = {arrow::field("path", arrow::utf8(), false),
                               arrow::field("label", arrow::utf8(), false),
                               arrow::field("features", VectorType(feature_dim), false)};
  if (pca_dim > 0) fields.push_back(arrow::field("pca", VectorType(pca_dim), false));
  return arrow::schema(std::move(fields));
}

std::shared_ptr<arrow::Schema> StagingSchema(std::size_t feature_dim) {
  auto fields = FeatureSchema(feature_dim, 0)->fields();
  fields.push_back(arrow::field("input_size", arrow::int64(), false));
  fields.push_back(arrow::field("input_mtime_ms", arrow::int64(), false));
  return arrow::schema(std::move(fields));
}

std::shared_ptr<arrow::Schema> ErrorSchema() {
  return arrow::schema({arrow::field("path", arrow::utf8(), false),
                        arrow::field("stage", arrow::utf8(), false),
                        arrow::field("message", arrow::utf8(), false)});
}

std::shared_ptr<arrow::RecordBatch> MakeFeatureBatch(const std::vector<std::string>& paths,
                                                     const std::vector<std::string>& labels,
                                                     FloatRows features) {
  if (labels.size() != paths.size()) throw std::invalid_argument("paths and labels differ in length");
  const auto rows = static_cast<int64_t>(paths.size());
  return arrow::RecordBatch::Make(
      FeatureSchema(features.dim, 0), rows,
      {StringArray(paths), StringArray(labels), VectorArray(features, paths.size())});
}

std::shared_ptr<arrow::RecordBatch> MakeStagedBatch(const std::vector<std::string>& paths,
                                                    const std::vector<std::string>& labels,
                                                    FloatRows features, std::span<const InputKey> keys) {
  if (keys.size() != paths.size()) throw std::invalid_argument("paths and input keys differ in length");
  arrow::Int64Builder sizes, mtimes;
  for (const auto& key : keys) {
    ThrowIfError(sizes.Append(key.size), "building input key column");
    ThrowIfError(mtimes.Append(key.mtime_ms), "building input key column");
  }
  auto columns = MakeFeatureBatch(paths, labels, features)->columns();
  columns.push_back(ValueOrThrow(sizes.Finish(), "building input key column"));
  columns.push_back(ValueOrThrow(mtimes.Finish(), "building input key column"));
  return arrow::RecordBatch::Make(StagingSchema(features.dim), static_cast<int64_t>(paths.size()),
                                  std::move(columns));
}

std::vector<InputKey> InputKeyColumn(const arrow::RecordBatch& staged) {
  std::vector<InputKey> keys(static_cast<std::size_t>(staged.num_rows()));
  const auto sizes = std::dynamic_pointer_cast<arrow::Int64Array>(staged.GetColumnByName("input_size"));
  const auto mtimes = std::dynamic_pointer_cast<arrow::Int64Array>(staged.GetColumnByName("input_mtime_ms"));
  const auto labels = std::dynamic_pointer_cast<arrow::StringArray>(staged.GetColumnByName("label"));
  if (!sizes || !mtimes || !labels) return keys;
  for (std::size_t row = 0; row < keys.size(); ++row) {
    const auto i = static_cast<std::int64_t>(row);
    keys[row] = {sizes->Value(i), mtimes->Value(i), labels->GetString(i)};
  }
  return keys;
}

std::shared_ptr<arrow::RecordBatch> AddPcaColumn(const std::shared_ptr<arrow::RecordBatch>& staged,
                                                 FloatRows pca) {
  const auto rows = static_cast<std::size_t>(staged->num_rows());
  auto column = VectorArray(pca, rows);
  return ValueOrThrow(
      staged->AddColumn(staged->num_columns(), arrow::field("pca", column->type(), false), column),
      "adding pca column");
}

namespace {

// A list<float32> column (Spark's Parquet parts: Spark has no fixed-size array type) whose rows are all
// non-null and of one length, as the row-major rows it holds; otherwise invalid_argument naming the first bad
// row.
FloatRows UniformListRows(const arrow::ListArray& list, const std::string& name) {
  if (list.value_type()->id() != arrow::Type::FLOAT)
    throw std::invalid_argument("column '" + name + "' is not float");
  const auto rows = list.length();
  const auto dim = rows > 0 ? list.value_length(0) : 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    if (list.IsNull(i) || list.value_length(i) != dim ||
        list.value_offset(i) != list.value_offset(0) + i * dim) {
      throw std::invalid_argument("column '" + name + "': row " + std::to_string(i) + " is null or not " +
                                  std::to_string(dim) + " values like row 0");
    }
  }
  const auto& values = static_cast<const arrow::FloatArray&>(*list.values());
  const float* first = values.raw_values() + (rows > 0 ? list.value_offset(0) : 0);
  return {std::span<const float>(first, static_cast<std::size_t>(dim * rows)), static_cast<std::size_t>(dim)};
}

}  // namespace

FloatRows FloatColumn(const arrow::RecordBatch& batch, const std::string& name) {
  const auto column = batch.GetColumnByName(name);
  if (column && column->type_id() == arrow::Type::LIST) {
    return UniformListRows(static_cast<const arrow::ListArray&>(*column), name);
  }
  if (!column || column->type_id() != arrow::Type::FIXED_SIZE_LIST) {
    throw std::invalid_argument("no fixed-size list column '" + name + "'");
  }
  const auto& list = static_cast<const arrow::FixedSizeListArray&>(*column);
  const auto dim = static_cast<std::size_t>(list.list_type()->list_size());
  const auto& values = static_cast<const arrow::FloatArray&>(*list.values());
  const float* first = values.raw_values() + list.value_offset(0);
  return {std::span<const float>(first, dim * static_cast<std::size_t>(batch.num_rows())), dim};
}

std::shared_ptr<arrow::RecordBatch> MakeErrorBatch(std::span<const ErrorRow> rows) {
  arrow::StringBuilder paths, stages, messages;
  for (const auto& row : rows) {
    ThrowIfError(AppendText(paths, row.path), "building error rows");
    ThrowIfError(AppendText(stages, row.stage), "building error rows");
    ThrowIfError(AppendText(messages, row.message), "building error rows");
  }
  return arrow::RecordBatch::Make(
      ErrorSchema(), static_cast<int64_t>(rows.size()),
      {ValueOrThrow(paths.Finish(), "error rows"), ValueOrThrow(stages.Finish(), "error rows"),
       ValueOrThrow(messages.Finish(), "error rows")});
}

}  // namespace orchard
