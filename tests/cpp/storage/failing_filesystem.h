// A local file system that fails the way remote storage does, for tests of what orchard does on a storage
// fault: reads of chosen paths fail with an I/O error (connection refused), and writes fail halfway through.
#pragma once

#include <arrow/filesystem/localfs.h>
#include <arrow/io/interfaces.h>

#include <algorithm>
#include <memory>
#include <string>

namespace orchard::testing {

// Writes the first half of what it is given, then fails: a crash or an outage mid-write.
class HalfWritingStream : public arrow::io::OutputStream {
 public:
  explicit HalfWritingStream(std::shared_ptr<arrow::io::OutputStream> inner) : inner_(std::move(inner)) {}
  arrow::Status Write(const void* data, int64_t nbytes) override {
    ARROW_RETURN_NOT_OK(inner_->Write(data, std::max<int64_t>(1, nbytes / 2)));
    ARROW_RETURN_NOT_OK(inner_->Close());
    return arrow::Status::IOError("connection reset while writing");
  }
  arrow::Status Close() override { return inner_->closed() ? arrow::Status::OK() : inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  arrow::Result<int64_t> Tell() const override { return inner_->Tell(); }

 private:
  std::shared_ptr<arrow::io::OutputStream> inner_;
};

class FailingFileSystem : public arrow::fs::LocalFileSystem {
 public:
  // Reads of paths containing `fail_reads_of` fail; with `fail_writes`, every written file is torn.
  FailingFileSystem(std::string fail_reads_of, bool fail_writes)
      : fail_reads_of_(std::move(fail_reads_of)), fail_writes_(fail_writes) {}

  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(
      const std::string& path) override {
    if (!fail_reads_of_.empty() && path.find(fail_reads_of_) != std::string::npos) {
      return arrow::Status::IOError("connection refused (storage unavailable)");
    }
    return LocalFileSystem::OpenInputFile(path);
  }
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputStream(
      const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override {
    ARROW_ASSIGN_OR_RAISE(auto stream, LocalFileSystem::OpenOutputStream(path, metadata));
    if (!fail_writes_) return stream;
    return std::make_shared<HalfWritingStream>(std::move(stream));
  }
  using LocalFileSystem::OpenInputFile;
  using LocalFileSystem::OpenOutputStream;

 private:
  std::string fail_reads_of_;
  bool fail_writes_;
};

}  // namespace orchard::testing
