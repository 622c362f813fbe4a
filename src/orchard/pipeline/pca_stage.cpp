#include "orchard/pipeline/pca_stage.h"

#include <arrow/array.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>

#include "orchard/common/threads.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/pipeline/task_group.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

using Batch = std::shared_ptr<arrow::RecordBatch>;

const arrow::StringArray& PathsOf(const arrow::RecordBatch& batch, const Location& part) {
  const auto paths = std::dynamic_pointer_cast<arrow::StringArray>(batch.GetColumnByName("path"));
  if (!paths) throw IoError(part.uri() + ": no string column 'path'");
  return *paths;
}

// Calls `write` with each run of consecutive rows of `batch` (read from `part`) whose path is not in
// `dropped`.
void ForEachKeptRun(const Batch& batch, const PartCopy& part,
                    const std::function<void(const Batch&)>& write) {
  if (!part.dropped || part.dropped->empty()) return write(batch);
  const auto& paths = PathsOf(*batch, part.source);
  std::int64_t start = 0;
  for (std::int64_t row = 0; row <= batch->num_rows(); ++row) {
    if (row < batch->num_rows() && !part.dropped->contains(paths.GetString(row))) continue;
    if (row > start) write(batch->Slice(start, row - start));
    start = row + 1;
  }
}

// Copies the kept rows of `part.source`, each run of them passed through `convert`, into `part.destination`
// with the schema `schema_of` gives for a converted batch. Returns the rows written (0: no file).
std::int64_t CopyPart(
    const PartCopy& part, const std::function<Batch(const Batch&)>& convert,
    const std::function<std::shared_ptr<arrow::Schema>(const arrow::RecordBatch&)>& schema_of) {
  std::unique_ptr<ParquetFileWriter> writer;
  ReadParquetBatches(part.source, [&](const Batch& batch) {
    ForEachKeptRun(batch, part, [&](const Batch& rows) {
      const Batch converted = convert(rows);
      if (!writer) writer = std::make_unique<ParquetFileWriter>(part.destination, schema_of(*converted));
      writer->Write(*converted);
    });
  });
  if (!writer) return 0;
  writer->Close();
  Failpoint("final-part");
  return writer->rows_written();
}

// Rows of a staged or final part with the `pca` column of `pca`, or none.
Batch WithPca(const Batch& rows, const PcaModel* pca) {
  const FloatRows features = FloatColumn(*rows, "features");
  const auto n = static_cast<std::size_t>(rows->num_rows());
  auto base = arrow::RecordBatch::Make(
      FeatureSchema(features.dim, 0), rows->num_rows(),
      {rows->GetColumnByName("path"), rows->GetColumnByName("label"), rows->GetColumnByName("features")});
  if (!pca) return base;
  std::vector<float> projected(n * pca->k());
  pca->Transform(features.values, n, projected);
  return AddPcaColumn(base, {projected, pca->k()});
}

// Runs `copy` on every part, one worker per core: parts are independent, and decoding, projecting and
// encoding one is single-threaded work (~0.1 ms a row).
std::vector<std::int64_t> ForEachPart(std::span<const PartCopy> parts,
                                      const std::function<std::int64_t(const PartCopy&)>& copy) {
  std::vector<std::int64_t> rows(parts.size(), 0);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  TaskGroup workers([&] { failed = true; });
  const auto workers_wanted = std::min(static_cast<std::size_t>(ThreadsOrCores()), parts.size());
  for (std::size_t i = 0; i < workers_wanted; ++i) {
    workers.Spawn([&] {
      for (std::size_t part = next++; part < parts.size() && !failed; part = next++)
        rows[part] = copy(parts[part]);
    });
  }
  workers.Wait();
  return rows;
}

}  // namespace

std::vector<std::int64_t> WriteFeatureParts(std::span<const PartCopy> parts, const PcaModel* pca) {
  const auto schema_of = [pca](const arrow::RecordBatch& batch) {
    return FeatureSchema(FloatColumn(batch, "features").dim, pca ? pca->k() : 0);
  };
  return ForEachPart(parts, [&](const PartCopy& part) {
    return CopyPart(
        part, [pca](const Batch& rows) { return WithPca(rows, pca); }, schema_of);
  });
}

std::vector<std::int64_t> WriteErrorParts(std::span<const PartCopy> parts) {
  const auto schema_of = [](const arrow::RecordBatch&) { return ErrorSchema(); };
  return ForEachPart(parts, [&](const PartCopy& part) {
    return CopyPart(
        part, [](const Batch& rows) { return rows; }, schema_of);
  });
}

CovarianceAccumulator MomentsOf(std::span<const Location> parts, const PathSet& selected, std::size_t dim) {
  CovarianceAccumulator moments(dim);
  std::vector<float> rows;
  for (const auto& part : parts) {
    ReadParquetBatches(part, [&](const Batch& batch) {
      const auto& paths = PathsOf(*batch, part);
      const FloatRows features = FloatColumn(*batch, "features");
      for (std::int64_t row = 0; row < batch->num_rows(); ++row) {
        if (!selected.contains(paths.GetString(row))) continue;
        const auto values = features.values.subspan(static_cast<std::size_t>(row) * dim, dim);
        rows.insert(rows.end(), values.begin(), values.end());
      }
    });
  }
  moments.AddRows(rows, rows.size() / dim);
  return moments;
}

PathSet PathsIn(std::span<const Location> parts) {
  PathSet paths;
  for (const auto& part : parts) {
    ReadParquetBatches(part, [&](const Batch& batch) {
      const auto& column = PathsOf(*batch, part);
      for (std::int64_t i = 0; i < column.length(); ++i) paths.insert(column.GetString(i));
    });
  }
  return paths;
}

}  // namespace orchard
