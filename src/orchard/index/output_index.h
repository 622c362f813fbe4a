#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "orchard/index/cosine_index.h"
#include "orchard/pipeline/output_layout.h"

namespace orchard {

// What `orchard index` is told.
struct IndexOptions {
  std::string output;               // folder or URI written by `orchard run`
  std::string column = "features";  // "features" or "pca"
};

// Streams `column` and the path/label keys of every row of the finished output into an index, in the order
// of the parts _SUCCESS lists. Memory: the index itself (4 × rows × dim bytes, reserved once from the row
// count) plus the keys plus one Parquet batch (kParquetRowsPerBatch rows). Throws UsageError (unknown
// column, a "pca" column the run skipped), IoError (no _SUCCESS, unreadable parts).
CosineIndex ReadOutputIndex(const OutputLayout& output, const nlohmann::json& manifest,
                            const std::string& column);

// Builds the index of `options.column` into the output (index.faiss, index_keys.parquet; cosine_index.h)
// and records it in _SUCCESS under "index" ({file, keys, column, metric, rows, dim}) and files.index.
// Returns that record. Throws as ReadOutputIndex(), IoError when the files cannot be written.
nlohmann::json BuildOutputIndex(const IndexOptions& options, std::ostream& log);

// The index `orchard index` recorded in the output's _SUCCESS. Throws UsageError when it has none (naming
// the command that builds it), IoError when its files are missing or torn.
CosineIndex LoadOutputIndex(const OutputLayout& output, const nlohmann::json& manifest);

}  // namespace orchard
