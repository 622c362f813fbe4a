#pragma once

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "orchard/storage/input_listing.h"

namespace orchard {

// The output schema of `orchard run` (README, "Output format"):
//   features/: path string, label string, features fixed_size_list<float32>[D], pca
//   fixed_size_list<float32>[k] errors/:   path string, stage string, message string
// `pca_dim` == 0 gives the schema of a job without a PCA.
std::shared_ptr<arrow::Schema> FeatureSchema(std::size_t feature_dim, std::size_t pca_dim);
std::shared_ptr<arrow::Schema> ErrorSchema();

// Row-major float matrix of `dim` columns, as it comes out of the model or the PCA.
struct FloatRows {
  std::span<const float> values;
  std::size_t dim = 0;
};

std::shared_ptr<arrow::RecordBatch> MakeFeatureBatch(const std::vector<std::string>& paths,
                                                     const std::vector<std::string>& labels,
                                                     FloatRows features);

// The schema of a staged part (_staging/, written before the PCA exists): path, label, features, and the key
// of the input bytes each row was computed from, input_size int64 (bytes) and input_mtime_ms int64
// (milliseconds since the Unix epoch), so that a resumed job can tell a row of bytes replaced since
// (resume.h).
std::shared_ptr<arrow::Schema> StagingSchema(std::size_t feature_dim);

// A batch of StagingSchema: n rows, `features` n × dim floats, `keys` n keys; invalid_argument when the
// lengths differ.
std::shared_ptr<arrow::RecordBatch> MakeStagedBatch(const std::vector<std::string>& paths,
                                                    const std::vector<std::string>& labels,
                                                    FloatRows features, std::span<const InputKey> keys);

// The input keys of a staged batch (input_size, input_mtime_ms and the row's label), n keys; a part without
// the key columns (staged by an older orchard) gives the empty key ({-1, -1}) for every row, which no listed
// input has.
std::vector<InputKey> InputKeyColumn(const arrow::RecordBatch& staged);

// Appends the `pca` column to a staged batch.
std::shared_ptr<arrow::RecordBatch> AddPcaColumn(const std::shared_ptr<arrow::RecordBatch>& staged,
                                                 FloatRows pca);

// The float values of a fixed_size_list<float32> column, row-major, without copying. A list<float32> column
// (the Spark job's parts) is taken when all its rows have one length; else std::invalid_argument.
FloatRows FloatColumn(const arrow::RecordBatch& batch, const std::string& name);

struct ErrorRow {
  std::string path;
  std::string stage;  // "read", "decode", "preprocess", "inference"
  std::string message;
};

std::shared_ptr<arrow::RecordBatch> MakeErrorBatch(std::span<const ErrorRow> rows);

}  // namespace orchard
