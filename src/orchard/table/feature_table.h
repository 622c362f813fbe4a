#pragma once

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace orchard {

// The output schema of `orchard run` (README, "Output format"):
//   features/: path string, label string, features fixed_size_list<float32>[D], pca
//   fixed_size_list<float32>[k] errors/:   path string, stage string, message string
// `pca_dim` == 0 gives the staging schema, written before the PCA exists.
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
