#include "orchard/pipeline/pca_stage.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "orchard/common/threads.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/pipeline/task_group.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

void WritePcaPart(const Location& staged, const Location& final_part, const PcaModel& pca) {
  std::unique_ptr<ParquetFileWriter> writer;
  std::vector<float> projected;
  ReadParquetBatches(staged, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
    const FloatRows features = FloatColumn(*batch, "features");
    const auto rows = static_cast<std::size_t>(batch->num_rows());
    projected.resize(rows * pca.k());
    pca.Transform(features.values, rows, projected);
    if (!writer)
      writer = std::make_unique<ParquetFileWriter>(final_part, FeatureSchema(features.dim, pca.k()));
    writer->Write(*AddPcaColumn(batch, {projected, pca.k()}));
  });
  if (writer) writer->Close();
  Failpoint("final-part");
}

void WriteFinalPart(const Location& staged, const Location& final_part, const PcaModel* pca) {
  if (pca) {
    WritePcaPart(staged, final_part, *pca);
  } else {
    ThrowIfError(staged.fs->CopyFile(staged.path, final_part.path), final_part.uri());
    Failpoint("final-part");
  }
}

}  // namespace

std::vector<std::string> WriteFinalParts(const std::vector<Location>& staged_parts,
                                         const Location& features_folder, const PcaModel* pca) {
  // Parts are independent, and decoding, projecting and encoding one is single-threaded work (~0.1 ms a
  // row): one worker per core.
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  TaskGroup workers([&] { failed = true; });
  const auto workers_wanted = std::min(static_cast<std::size_t>(ThreadsOrCores()), staged_parts.size());
  for (std::size_t i = 0; i < workers_wanted; ++i) {
    workers.Spawn([&] {
      for (std::size_t part = next++; part < staged_parts.size() && !failed; part = next++) {
        const Location& staged = staged_parts[part];
        WriteFinalPart(staged, features_folder.child(staged.name()), pca);
      }
    });
  }
  workers.Wait();
  std::vector<std::string> names;
  for (const auto& staged : staged_parts) names.push_back(staged.name());
  return names;
}

}  // namespace orchard
