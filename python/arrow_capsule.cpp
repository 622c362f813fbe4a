#include "arrow_capsule.h"

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>
#include <nanobind/stl/shared_ptr.h>

#include "orchard/storage/arrow_status.h"

namespace orchard::python {
namespace {

// The capsule names and destructors the protocol prescribes: a consumer that imported the struct marked it
// released (release == nullptr); one that did not leaves the release to the capsule.
template <typename CStruct>
void ReleaseAndDelete(void* pointer) noexcept {
  auto* c_struct = static_cast<CStruct*>(pointer);
  if (c_struct->release != nullptr) c_struct->release(c_struct);
  delete c_struct;
}

template <typename CStruct>
nb::capsule MakeCapsule(std::unique_ptr<CStruct> c_struct, const char* name) {
  return nb::capsule(c_struct.release(), name, &ReleaseAndDelete<CStruct>);
}

template <typename CStruct>
CStruct* CapsulePointer(nb::handle capsule, const char* name, const std::string& what) {
  auto* pointer = static_cast<CStruct*>(PyCapsule_GetPointer(capsule.ptr(), name));
  if (pointer == nullptr) {
    PyErr_Clear();
    throw nb::type_error((what + ": expected a PyCapsule named '" + name + "'").c_str());
  }
  return pointer;
}

ImportedBatches ImportStream(nb::handle source, const std::string& what) {
  nb::object capsule = source.attr("__arrow_c_stream__")();
  auto* stream = CapsulePointer<ArrowArrayStream>(capsule, "arrow_array_stream", what);
  auto reader = ValueOrThrow(arrow::ImportRecordBatchReader(stream), what);
  ImportedBatches imported{reader->schema(), {}};
  // The producer may be a Python generator (pyarrow acquires the GIL itself when it pulls from one).
  nb::gil_scoped_release release;
  for (auto batch : *reader) imported.batches.push_back(ValueOrThrow(std::move(batch), what));
  return imported;
}

ImportedBatches ImportArray(nb::handle source, const std::string& what) {
  nb::object pair = source.attr("__arrow_c_array__")();
  if (!nb::isinstance<nb::tuple>(pair) || nb::len(pair) != 2) {
    throw nb::type_error((what + ": __arrow_c_array__ did not return (schema, array) capsules").c_str());
  }
  auto* schema = CapsulePointer<ArrowSchema>(pair[0], "arrow_schema", what);
  auto* array = CapsulePointer<ArrowArray>(pair[1], "arrow_array", what);
  auto batch = ValueOrThrow(arrow::ImportRecordBatch(array, schema), what);
  return {batch->schema(), {batch}};
}

}  // namespace

ImportedBatches ImportBatches(nb::handle source, const std::string& what) {
  // A single batch is cheaper through the array interface; pyarrow's RecordBatch offers both.
  if (nb::hasattr(source, "__arrow_c_array__")) return ImportArray(source, what);
  if (nb::hasattr(source, "__arrow_c_stream__")) return ImportStream(source, what);
  throw nb::type_error((what +
                        ": expected an Arrow record batch, table or stream (an object with "
                        "__arrow_c_array__ or __arrow_c_stream__), got " +
                        std::string(nb::type_name(source.type()).c_str()))
                           .c_str());
}

ArrowBatches::ArrowBatches(std::shared_ptr<arrow::Schema> schema,
                           std::vector<std::shared_ptr<arrow::RecordBatch>> batches)
    : schema_(std::move(schema)), batches_(std::move(batches)) {}

std::int64_t ArrowBatches::num_rows() const {
  std::int64_t rows = 0;
  for (const auto& batch : batches_) rows += batch->num_rows();
  return rows;
}

nb::tuple ArrowBatches::ExportArray(nb::handle /*requested_schema*/) const {
  std::shared_ptr<arrow::RecordBatch> whole;
  if (batches_.size() == 1) {
    whole = batches_.front();
  } else if (batches_.empty()) {
    whole = ValueOrThrow(arrow::RecordBatch::MakeEmpty(schema_), "exporting an empty batch");
  } else {
    whole = ValueOrThrow(arrow::ConcatenateRecordBatches(batches_), "concatenating batches");
  }
  auto schema = std::make_unique<ArrowSchema>();
  auto array = std::make_unique<ArrowArray>();
  ThrowIfError(arrow::ExportRecordBatch(*whole, array.get(), schema.get()), "exporting a record batch");
  return nb::make_tuple(MakeCapsule(std::move(schema), "arrow_schema"),
                        MakeCapsule(std::move(array), "arrow_array"));
}

nb::capsule ArrowBatches::ExportStream(nb::handle /*requested_schema*/) const {
  auto reader = ValueOrThrow(arrow::RecordBatchReader::Make(batches_, schema_), "exporting a stream");
  auto stream = std::make_unique<ArrowArrayStream>();
  ThrowIfError(arrow::ExportRecordBatchReader(reader, stream.get()), "exporting a stream");
  return MakeCapsule(std::move(stream), "arrow_array_stream");
}

void ArrowBatches::Bind(nb::module_& m) {
  using namespace nb::literals;
  nb::class_<ArrowBatches>(m, "ArrowBatches",
                           "Record batches produced by orchard._core, exported through the Arrow PyCapsule "
                           "interface: pyarrow.record_batch(x) or pyarrow.table(x), zero-copy.")
      .def("__arrow_c_array__", &ArrowBatches::ExportArray, "requested_schema"_a = nb::none())
      .def("__arrow_c_stream__", &ArrowBatches::ExportStream, "requested_schema"_a = nb::none())
      .def_prop_ro("num_rows", &ArrowBatches::num_rows)
      .def("__len__", &ArrowBatches::num_rows);
}

}  // namespace orchard::python
