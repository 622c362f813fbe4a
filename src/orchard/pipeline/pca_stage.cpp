#include "orchard/pipeline/pca_stage.h"

#include <memory>

#include "orchard/pipeline/failpoint.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {

std::vector<std::string> WritePcaParts(const std::vector<Location>& staged_parts,
                                       const Location& features_folder, const PcaModel& pca) {
  std::vector<std::string> names;
  std::vector<float> projected;
  for (const auto& staged : staged_parts) {
    const Location final_part = features_folder.child(staged.name());
    std::unique_ptr<ParquetFileWriter> writer;
    ReadParquetBatches(staged, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
      const FloatRows features = FloatColumn(*batch, "features");
      const auto rows = static_cast<std::size_t>(batch->num_rows());
      projected.resize(rows * pca.k());
      pca.Transform(features.values, rows, projected);
      if (!writer) {
        writer = std::make_unique<ParquetFileWriter>(final_part, FeatureSchema(features.dim, pca.k()));
      }
      writer->Write(*AddPcaColumn(batch, {projected, pca.k()}));
    });
    if (writer) writer->Close();
    Failpoint("final-part");
    names.push_back(staged.name());
  }
  return names;
}

}  // namespace orchard
