#include "orchard/table/input_inventory.h"

#include <arrow/api.h>

#include "orchard/storage/arrow_status.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

std::shared_ptr<arrow::Schema> InventorySchema() {
  return arrow::schema(
      {arrow::field("path", arrow::utf8(), /*nullable=*/false), arrow::field("size", arrow::int64(), false),
       arrow::field("mtime_ms", arrow::int64(), false), arrow::field("label", arrow::utf8(), false)});
}

std::shared_ptr<arrow::RecordBatch> InventoryBatch(std::span<const InputRecord> records,
                                                   const std::string& context) {
  arrow::StringBuilder paths, labels;
  arrow::Int64Builder sizes, times;
  for (const auto& record : records) {
    ThrowIfError(paths.Append(record.path), context);
    ThrowIfError(sizes.Append(record.key.size), context);
    ThrowIfError(times.Append(record.key.mtime_ms), context);
    ThrowIfError(labels.Append(record.key.label), context);
  }
  return arrow::RecordBatch::Make(
      InventorySchema(), static_cast<std::int64_t>(records.size()),
      {ValueOrThrow(paths.Finish(), context), ValueOrThrow(sizes.Finish(), context),
       ValueOrThrow(times.Finish(), context), ValueOrThrow(labels.Finish(), context)});
}

template <class ArrayType>
const ArrayType& TypedColumn(const arrow::RecordBatch& batch, const char* name, const Location& location) {
  const auto column = batch.GetColumnByName(name);
  const auto* typed = dynamic_cast<const ArrayType*>(column.get());
  if (!typed || typed->null_count() > 0) {
    throw IoError(location.uri() + ": not an orchard input inventory: no column '" + name +
                  "' of the right type");
  }
  return *typed;
}

}  // namespace

void WriteInputInventory(std::span<const InputRecord> records, const Location& location) {
  WriteAtomically(location, [&](const Location& target) {
    ParquetFileWriter writer(target, InventorySchema());
    for (std::size_t start = 0; start < records.size(); start += kParquetRowsPerBatch) {
      const auto count = std::min<std::size_t>(kParquetRowsPerBatch, records.size() - start);
      writer.Write(*InventoryBatch(records.subspan(start, count), target.uri()));
    }
    writer.Close();
  });
}

std::unordered_map<std::string, InputKey> ReadInputInventory(const Location& location) {
  std::unordered_map<std::string, InputKey> keys;
  ReadParquetBatches(location, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
    const auto& paths = TypedColumn<arrow::StringArray>(*batch, "path", location);
    const auto& sizes = TypedColumn<arrow::Int64Array>(*batch, "size", location);
    const auto& times = TypedColumn<arrow::Int64Array>(*batch, "mtime_ms", location);
    const bool labelled = batch->GetColumnByName("label") != nullptr;
    const auto* labels = labelled ? &TypedColumn<arrow::StringArray>(*batch, "label", location) : nullptr;
    for (std::int64_t i = 0; i < batch->num_rows(); ++i) {
      keys[paths.GetString(i)] = InputKey{sizes.Value(i), times.Value(i), labels ? labels->GetString(i) : ""};
    }
  });
  return keys;
}

}  // namespace orchard
