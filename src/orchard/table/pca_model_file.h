#pragma once

#include <arrow/filesystem/filesystem.h>

#include <memory>
#include <string>

#include "orchard/pca/pca_model.h"

namespace orchard {

// A PcaModel as a Parquet file that pyarrow/pandas read directly: one row per component with columns
//   component (int32), explained_variance (float64), explained_variance_ratio (float64),
//   vector (fixed_size_list<float64>[dim]),
// and the rest of the model (mean, dim, k, total_variance, n_samples) as JSON under the file's key-value
// metadata key kPcaMetadataKey. Doubles are written with round-trip precision, so Read(Write(m)) == m.
inline constexpr const char* kPcaMetadataKey = "orchard.pca";
inline constexpr int kPcaFormatVersion = 1;

// Writes atomically (storage/location.h, WriteAtomically()). Throws IoError naming `path` when the file
// cannot be written.
void WritePcaModel(const PcaModel& model, const std::shared_ptr<arrow::fs::FileSystem>& fs,
                   const std::string& path);

// Throws IoError naming `path` when the file cannot be read or is not a valid orchard PCA model.
PcaModel ReadPcaModel(const std::shared_ptr<arrow::fs::FileSystem>& fs, const std::string& path);

}  // namespace orchard
