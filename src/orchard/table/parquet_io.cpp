#include "orchard/table/parquet_io.h"

#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/properties.h>

#include "orchard/storage/arrow_status.h"

namespace orchard {

namespace {

// Float vectors barely compress; zstd at a low level still shrinks strings and costs little time. Float and
// double columns (the feature and PCA vectors' elements) go without dictionary encoding: their values are all
// distinct, so the writer would hash each into a dictionary it then drops for PLAIN. The Spark job's writer
// does the same (python/orchard/_spark_output.py, _no_dictionary_options).
std::shared_ptr<parquet::WriterProperties> WriterPropertiesFor(
    const arrow::Schema& schema, const parquet::ArrowWriterProperties& arrow_properties,
    const std::string& uri) {
  parquet::WriterProperties::Builder builder;
  builder.compression(parquet::Compression::ZSTD)->max_row_group_length(kParquetRowsPerBatch);
  builder.enable_page_checksum();  // OpenVerifiedParquet checks them
  std::shared_ptr<parquet::SchemaDescriptor> descriptor;
  ThrowIfError(parquet::arrow::ToParquetSchema(&schema, *builder.build(), arrow_properties, &descriptor),
               uri);
  for (int i = 0; i < descriptor->num_columns(); ++i) {
    const auto type = descriptor->Column(i)->physical_type();
    if (type == parquet::Type::FLOAT || type == parquet::Type::DOUBLE) {
      builder.disable_dictionary(descriptor->Column(i)->path());
    }
  }
  return builder.build();
}

}  // namespace

ParquetFileWriter::ParquetFileWriter(const Location& location, std::shared_ptr<arrow::Schema> schema,
                                     const std::unordered_map<std::string, std::string>& metadata)
    : location_(location) {
  if (!metadata.empty()) schema = schema->WithMetadata(arrow::key_value_metadata(metadata));
  sink_ = ValueOrThrow(location.fs->OpenOutputStream(location.path), location.uri());
  auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  const auto properties = WriterPropertiesFor(*schema, *arrow_properties, location.uri());
  writer_ = ValueOrThrow(parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), sink_,
                                                          properties, arrow_properties),
                         location.uri());
}

void ParquetFileWriter::Write(const arrow::RecordBatch& batch) {
  ThrowIfError(writer_->WriteRecordBatch(batch), location_.uri());
  rows_written_ += batch.num_rows();
}

void ParquetFileWriter::Close() {
  ThrowIfError(writer_->Close(), location_.uri());
  ThrowIfError(sink_->Close(), location_.uri());
  MakeDurable(location_);
}

namespace {

// ValueOrThrow(), with the reader's verdict "not valid Parquet" kept apart from storage failures.
template <class T>
T ReadValueOrThrow(arrow::Result<T> result, const Location& location) {
  if (result.status().IsInvalid()) {
    throw InvalidParquetError(location.uri() + ": not a complete Parquet file: " + result.status().message());
  }
  return ValueOrThrow(std::move(result), location.uri());
}

}  // namespace

arrow::Result<std::unique_ptr<parquet::arrow::FileReader>> OpenVerifiedParquet(
    std::shared_ptr<arrow::io::RandomAccessFile> input) {
  parquet::ReaderProperties properties = parquet::default_reader_properties();
  properties.set_page_checksum_verification(true);
  parquet::arrow::FileReaderBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Open(std::move(input), properties));
  return builder.memory_pool(arrow::default_memory_pool())->Build();
}

void ReadParquetBatches(const Location& location,
                        const std::function<void(const std::shared_ptr<arrow::RecordBatch>&)>& visit) {
  auto input = ValueOrThrow(location.fs->OpenInputFile(location.path), location.uri());
  auto reader = ReadValueOrThrow(OpenVerifiedParquet(input), location);
  reader->set_batch_size(kParquetRowsPerBatch);
  // One reader per row group: a reader over the whole file pre-buffers every row group's bytes up front.
  for (int group = 0; group < reader->num_row_groups(); ++group) {
    auto batches = ReadValueOrThrow(reader->GetRecordBatchReader({group}), location);
    while (true) {
      auto batch = ReadValueOrThrow(batches->Next(), location);
      if (!batch) break;
      visit(batch);
    }
  }
}

}  // namespace orchard
