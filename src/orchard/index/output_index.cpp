#include "orchard/index/output_index.h"

#include <arrow/array.h>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_lock.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

const arrow::StringArray& Strings(const arrow::RecordBatch& batch, const std::string& name) {
  const auto column = batch.GetColumnByName(name);
  if (!column || column->type_id() != arrow::Type::STRING)
    throw IoError("features have no string column " + name);
  return static_cast<const arrow::StringArray&>(*column);
}

std::size_t ColumnDim(const nlohmann::json& manifest, const std::string& column) {
  if (column == "features") return manifest.at("model").at("feature_dim").get<std::size_t>();
  return manifest.at("pca").at("k").get<std::size_t>();
}

}  // namespace

CosineIndex ReadOutputIndex(const OutputLayout& output, const nlohmann::json& manifest,
                            const std::string& column) {
  if (column != "features" && column != "pca") {
    throw UsageError("cannot index column '" + column + "': choose features or pca");
  }
  if (column == "pca" && manifest.at("pca").contains("skipped")) {
    throw UsageError(output.root.uri() + " has no PCA (" +
                     manifest.at("pca").at("skipped").get<std::string>() + "); index the features column");
  }
  CosineIndex index(ColumnDim(manifest, column));
  index.Reserve(manifest.at("counts").at("written").get<std::size_t>());
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  for (const auto& name : manifest.at("files").at("features")) {
    ReadParquetBatches(output.root.child(name.get<std::string>()), [&](const auto& batch) {
      const auto& path_column = Strings(*batch, "path");
      const auto& label_column = Strings(*batch, "label");
      paths.clear();
      labels.clear();
      for (std::int64_t i = 0; i < batch->num_rows(); ++i) {
        paths.emplace_back(path_column.GetView(i));
        labels.emplace_back(label_column.GetView(i));
      }
      index.Add(FloatColumn(*batch, column), paths, labels);
    });
  }
  return index;
}

nlohmann::json BuildOutputIndex(const IndexOptions& options, std::ostream& log) {
  const OutputLayout output{ResolveLocation(options.output)};
  // Held from reading _SUCCESS to rewriting it: an update or another index meanwhile would otherwise have its
  // _SUCCESS replaced by this stale copy (naming deleted parts, or another index's column).
  const OutputLock lock = OutputLock::Acquire(output.root);
  nlohmann::json manifest = ReadRunManifest(output);
  const CosineIndex index = ReadOutputIndex(output, manifest, options.column);
  index.Save(output.index(), output.index_keys());
  const nlohmann::json record = {{"file", output.index().name()},
                                 {"keys", output.index_keys().name()},
                                 {"column", options.column},
                                 {"metric", "cosine"},
                                 {"kind", "exact (faiss IndexFlatIP on L2-normalised rows)"},
                                 {"rows", index.size()},
                                 {"dim", index.dim()}};
  manifest["index"] = record;
  manifest["files"]["index"] = {output.index().name(), output.index_keys().name()};
  WriteRunManifest(output, manifest);
  log << "orchard: indexed " << index.size() << " rows of " << options.column << " (" << index.dim()
      << "-d) into " << output.index().uri() << "\n";
  return record;
}

CosineIndex LoadOutputIndex(const OutputLayout& output, const nlohmann::json& manifest) {
  if (!manifest.contains("index")) {
    throw UsageError(output.root.uri() + " has no index: build it with `orchard index " + output.root.uri() +
                     "`");
  }
  const auto& record = manifest.at("index");
  return CosineIndex::Load(output.root.child(record.at("file").get<std::string>()),
                           output.root.child(record.at("keys").get<std::string>()));
}

}  // namespace orchard
