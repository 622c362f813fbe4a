#include "arrow_columns.h"

#include <arrow/buffer_builder.h>
#include <arrow/builder.h>

#include <limits>
#include <stdexcept>

#include "orchard/common/utf8.h"
#include "orchard/storage/arrow_status.h"

namespace orchard::python {
namespace {

template <typename ArrayType>
void AppendViews(const arrow::Array& column, std::vector<std::optional<std::string_view>>& out) {
  const auto& typed = static_cast<const ArrayType&>(column);
  for (std::int64_t i = 0; i < typed.length(); ++i) {
    out.push_back(typed.IsNull(i) ? std::nullopt : std::optional(typed.GetView(i)));
  }
}

// The values [begin, begin + length) of a list's child array, checked to be non-null T.
template <typename T>
std::span<const T> ChildValues(const arrow::Array& values, std::int64_t begin, std::int64_t length,
                               const std::string& what) {
  using ArrowType = typename arrow::CTypeTraits<T>::ArrowType;
  if (values.type_id() != ArrowType::type_id) {
    throw std::invalid_argument(what + ": list values are " + values.type()->ToString() + ", expected " +
                                arrow::TypeTraits<ArrowType>::type_singleton()->ToString());
  }
  const auto& typed = static_cast<const arrow::NumericArray<ArrowType>&>(values);
  if (typed.null_count() > 0) {
    for (std::int64_t i = begin; i < begin + length; ++i) {
      if (typed.IsNull(i)) throw std::invalid_argument(what + ": a list holds a null element");
    }
  }
  return {typed.raw_values() + begin, static_cast<std::size_t>(length)};
}

}  // namespace

std::shared_ptr<arrow::Array> RequireColumn(const arrow::RecordBatch& batch, const std::string& name,
                                            const std::string& what) {
  if (auto column = batch.GetColumnByName(name)) return column;
  std::string names;
  for (const auto& field : batch.schema()->fields()) names += (names.empty() ? "" : ", ") + field->name();
  throw std::invalid_argument(what + ": no column '" + name + "' (columns: " + names + ")");
}

std::vector<std::optional<std::string_view>> ByteViews(const arrow::Array& column, const std::string& what) {
  std::vector<std::optional<std::string_view>> views;
  views.reserve(static_cast<std::size_t>(column.length()));
  switch (column.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      AppendViews<arrow::BinaryArray>(column, views);
      break;
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      AppendViews<arrow::LargeBinaryArray>(column, views);
      break;
    case arrow::Type::STRING_VIEW:
    case arrow::Type::BINARY_VIEW:
      AppendViews<arrow::BinaryViewArray>(column, views);
      break;
    default:
      throw std::invalid_argument(what + ": expected a string or binary column, got " +
                                  column.type()->ToString());
  }
  return views;
}

ImageStruct ReadImageStruct(const arrow::Array& column, const std::string& what) {
  if (column.type_id() != arrow::Type::STRUCT)
    throw std::invalid_argument(what + ": expected a struct column, got " + column.type()->ToString());
  const auto& image = static_cast<const arrow::StructArray&>(column);
  const auto field = [&](const std::string& name) {
    auto child = image.GetFieldByName(name);  // sliced to the struct's rows
    if (!child)
      throw std::invalid_argument(what + ": no field '" + name + "' (" + column.type()->ToString() + ")");
    return child;
  };
  const auto int32_field = [&](const std::string& name) {
    auto child = field(name);
    if (child->type_id() != arrow::Type::INT32)
      throw std::invalid_argument(what + ": field '" + name + "' is " + child->type()->ToString() +
                                  ", not int32");
    return std::static_pointer_cast<arrow::Int32Array>(child);
  };
  ImageStruct out{ByteViews(*field("origin"), what + ": field 'origin'"),
                  ByteViews(*field("data"), what + ": field 'data'"),
                  int32_field("height"),
                  int32_field("width"),
                  int32_field("nChannels"),
                  int32_field("mode")};
  for (std::int64_t i = 0; i < image.length(); ++i) {
    if (image.IsNull(i)) out.origins[static_cast<std::size_t>(i)] = std::nullopt;
  }
  return out;
}

template <typename T>
std::span<const T> ListRow(const arrow::Array& column, std::int64_t row, const std::string& what) {
  if (column.IsNull(row)) throw std::invalid_argument(what + ": row " + std::to_string(row) + " is null");
  switch (column.type_id()) {
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(column);
      return ChildValues<T>(*list.values(), list.value_offset(row), list.value_length(row), what);
    }
    case arrow::Type::LARGE_LIST: {
      const auto& list = static_cast<const arrow::LargeListArray&>(column);
      return ChildValues<T>(*list.values(), list.value_offset(row), list.value_length(row), what);
    }
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& list = static_cast<const arrow::FixedSizeListArray&>(column);
      return ChildValues<T>(*list.values(), list.value_offset(row), list.value_length(row), what);
    }
    default:
      throw std::invalid_argument(what + ": expected a list column, got " + column.type()->ToString());
  }
}

template <typename T>
ListRows<T> ReadListRows(const arrow::Array& column, const std::string& what) {
  ListRows<T> rows;
  rows.rows = static_cast<std::size_t>(column.length());
  if (rows.rows == 0) return rows;
  const std::span<const T> first = ListRow<T>(column, 0, what);
  rows.dim = first.size();
  bool contiguous = true;
  for (std::int64_t i = 1; i < column.length(); ++i) {
    const std::span<const T> row = ListRow<T>(column, i, what);
    if (row.size() != rows.dim) {
      throw std::invalid_argument(what + ": row " + std::to_string(i) + " has " + std::to_string(row.size()) +
                                  " values, row 0 has " + std::to_string(rows.dim));
    }
    contiguous = contiguous && row.data() == first.data() + static_cast<std::size_t>(i) * rows.dim;
  }
  if (contiguous) {
    rows.values = {first.data(), rows.rows * rows.dim};
    return rows;
  }
  rows.copy.reserve(rows.rows * rows.dim);
  for (std::int64_t i = 0; i < column.length(); ++i) {
    const std::span<const T> row = ListRow<T>(column, i, what);
    rows.copy.insert(rows.copy.end(), row.begin(), row.end());
  }
  rows.values = rows.copy;
  return rows;
}

std::shared_ptr<arrow::Array> StringColumn(const std::vector<std::optional<std::string>>& values) {
  arrow::StringBuilder builder;
  for (const auto& value : values) {
    const arrow::Status status = !value                ? builder.AppendNull()
                                 : IsValidUtf8(*value) ? builder.Append(*value)
                                                       : builder.Append(EscapeInvalidUtf8(*value));
    ThrowIfError(status, "building a string column");
  }
  return ValueOrThrow(builder.Finish(), "building a string column");
}

template <typename T>
std::shared_ptr<arrow::Array> ListColumn(std::vector<T>&& values, std::size_t rows, std::size_t dim,
                                         const std::vector<bool>& valid) {
  using ArrowType = typename arrow::CTypeTraits<T>::ArrowType;
  if (values.size() != rows * dim) throw std::invalid_argument("list column: values do not fill rows x dim");
  if (values.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::invalid_argument("list column: more than 2^31 - 1 values in one batch");
  }
  std::vector<std::int32_t> offsets(rows + 1);
  for (std::size_t i = 0; i <= rows; ++i) offsets[i] = static_cast<std::int32_t>(i * dim);
  std::shared_ptr<arrow::Buffer> validity;
  std::int64_t null_count = 0;
  if (!valid.empty()) {
    arrow::TypedBufferBuilder<bool> bits;
    for (bool ok : valid) {
      ThrowIfError(bits.Append(ok), "building a list column");
      null_count += ok ? 0 : 1;
    }
    validity = ValueOrThrow(bits.Finish(), "building a list column");
  }
  const auto size = static_cast<std::int64_t>(values.size());
  auto child =
      std::make_shared<arrow::NumericArray<ArrowType>>(size, arrow::Buffer::FromVector(std::move(values)));
  return std::make_shared<arrow::ListArray>(
      arrow::list(arrow::field("element", arrow::TypeTraits<ArrowType>::type_singleton())),
      static_cast<std::int64_t>(rows), arrow::Buffer::FromVector(std::move(offsets)), child,
      null_count > 0 ? validity : nullptr, null_count);
}

template ListRows<float> ReadListRows<float>(const arrow::Array&, const std::string&);
template std::span<const double> ListRow<double>(const arrow::Array&, std::int64_t, const std::string&);
template std::shared_ptr<arrow::Array> ListColumn<float>(std::vector<float>&&, std::size_t, std::size_t,
                                                         const std::vector<bool>&);
template std::shared_ptr<arrow::Array> ListColumn<double>(std::vector<double>&&, std::size_t, std::size_t,
                                                          const std::vector<bool>&);

}  // namespace orchard::python
