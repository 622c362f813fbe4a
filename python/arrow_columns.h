// Reading and building the Arrow columns orchard._core exchanges with Python (arrow_capsule.h): views into
// the producer's buffers on the way in, columns that own orchard's vectors on the way out, no copies either
// way.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace orchard::python {

// The column `name` of `batch`; throws std::invalid_argument naming `what` and the columns it has when
// absent.
std::shared_ptr<arrow::Array> RequireColumn(const arrow::RecordBatch& batch, const std::string& name,
                                            const std::string& what);

// Each value of a string or binary column (plain, large or view), nullopt where null: views into its buffers.
std::vector<std::optional<std::string_view>> ByteViews(const arrow::Array& column, const std::string& what);

// A struct column as Spark's image data source reads images (ImageSchema: origin string, height, width,
// nChannels, mode int32, data binary), viewed in place; origins are nullopt where the struct row is null.
// Throws std::invalid_argument naming `what` when the column is not a struct or a field is missing or of
// another type.
struct ImageStruct {
  std::vector<std::optional<std::string_view>> origins;
  std::vector<std::optional<std::string_view>> data;
  std::shared_ptr<arrow::Int32Array> height, width, channels, mode;
};
ImageStruct ReadImageStruct(const arrow::Array& column, const std::string& what);

// The rows of a list column (list, large_list or fixed_size_list) of T as one row-major matrix: a view of the
// column's values when its rows are contiguous (always, for arrays built by Arrow, Spark or orchard), else a
// copy. Throws std::invalid_argument naming `what` for a null row or element, rows of different lengths, or
// values that are not T.
template <typename T>
struct ListRows {
  std::span<const T> values;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<T> copy;  // holds the values when they were not contiguous
};
template <typename T>
ListRows<T> ReadListRows(const arrow::Array& column, const std::string& what);
// One row of such a column (rows may differ in length here).
template <typename T>
std::span<const T> ListRow(const arrow::Array& column, std::int64_t row, const std::string& what);

// A string column; bytes that are not UTF-8 are escaped as \xHH (common/utf8.h), as `orchard run` writes
// them.
std::shared_ptr<arrow::Array> StringColumn(const std::vector<std::optional<std::string>>& values);

// `rows` lists of `dim` values each, taking ownership of `values` (row-major), null where `valid` is false
// (all valid when empty). list<element: T>, the layout Spark's Arrow reader takes (it refuses
// fixed_size_list).
template <typename T>
std::shared_ptr<arrow::Array> ListColumn(std::vector<T>&& values, std::size_t rows, std::size_t dim,
                                         const std::vector<bool>& valid = {});

}  // namespace orchard::python
