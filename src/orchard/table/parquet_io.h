#pragma once

#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "orchard/common/error.h"
#include "orchard/storage/location.h"

namespace orchard {

// Rows per row group written and per batch read. The Parquet writer holds its current row group in memory and
// the reader decodes a batch at once, so this bounds memory per open file (~5 MiB of 1280-d features),
// whatever the rows per part.
inline constexpr std::int64_t kParquetRowsPerBatch = 1024;

// Writes one Parquet file batch by batch, in row groups of kParquetRowsPerBatch rows. Close() must be called
// for the file to be complete: a writer destroyed without it leaves a file that readers reject, which is what
// an interrupted job should leave behind.
class ParquetFileWriter {
 public:
  ParquetFileWriter(const Location& location, std::shared_ptr<arrow::Schema> schema,
                    const std::unordered_map<std::string, std::string>& metadata = {});
  ParquetFileWriter(const ParquetFileWriter&) = delete;
  ParquetFileWriter& operator=(const ParquetFileWriter&) = delete;

  void Write(const arrow::RecordBatch& batch);
  void Close();
  std::int64_t rows_written() const { return rows_written_; }

 private:
  Location location_;
  std::shared_ptr<arrow::io::OutputStream> sink_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  std::int64_t rows_written_ = 0;
};

// A file that was read and is not valid Parquet: its footer or magic bytes are missing or wrong (what a write
// interrupted before Close() leaves). Arrow's Parquet reader reports these as Status::Invalid, storage
// failures (cannot open, connection refused, 503, timeout) as Status::IOError, which stay plain IoErrors.
class InvalidParquetError : public IoError {
 public:
  using IoError::IoError;
};

// A reader of `input` that verifies each page's CRC32 where the writer stored one (ParquetFileWriter does,
// and so does Spark's parquet-mr by default): a file damaged after it was written is an error when its pages
// are read, never decoded into wrong values. The status is the reader's (Invalid for a torn file).
arrow::Result<std::unique_ptr<parquet::arrow::FileReader>> OpenVerifiedParquet(
    std::shared_ptr<arrow::io::RandomAccessFile> input);

// Calls `visit` with the file's record batches of at most kParquetRowsPerBatch rows, so memory stays bounded.
// Throws InvalidParquetError for a torn or non-Parquet file, IoError when the storage fails; what `visit`
// throws passes through.
void ReadParquetBatches(const Location& location,
                        const std::function<void(const std::shared_ptr<arrow::RecordBatch>&)>& visit);

}  // namespace orchard
