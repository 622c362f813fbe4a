// The Arrow PyCapsule interface
// (https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html): record batches cross between
// Python and orchard._core through the Arrow C data interface, zero-copy, from and to any library that speaks
// it (pyarrow, polars, duckdb, nanoarrow), without a Python object per row.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/type_fwd.h>
#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <vector>

namespace orchard::python {

namespace nb = nanobind;

// Every record batch of `source`, an object implementing __arrow_c_stream__ (a table, a reader, a stream) or
// __arrow_c_array__ (a record batch, a struct array). The batches keep the producer's buffers alive; nothing
// is copied. Throws nb::type_error naming `what` when `source` implements neither.
struct ImportedBatches {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
};
ImportedBatches ImportBatches(nb::handle source, const std::string& what);

// What orchard._core returns: record batches of one schema, exported on request through __arrow_c_array__
// (all batches as one: `pyarrow.record_batch(x)`) or __arrow_c_stream__ (`pyarrow.table(x)`,
// `pyarrow.RecordBatchReader.from_stream(x)`). A requested schema other than its own is not supported (the
// protocol lets a producer ignore it); the consumer casts.
class ArrowBatches {
 public:
  ArrowBatches(std::shared_ptr<arrow::Schema> schema,
               std::vector<std::shared_ptr<arrow::RecordBatch>> batches);

  nb::tuple ExportArray(nb::handle requested_schema) const;
  nb::capsule ExportStream(nb::handle requested_schema) const;
  std::int64_t num_rows() const;

  // Registers the Python class (orchard._core.ArrowBatches).
  static void Bind(nb::module_& m);

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
};

}  // namespace orchard::python
