#include "orchard/recognition/labelled_rows.h"

#include <arrow/array.h>

#include <set>

#include "orchard/common/error.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

const arrow::StringArray& StringColumn(const arrow::RecordBatch& batch, const std::string& name) {
  const auto column = batch.GetColumnByName(name);
  if (!column || column->type_id() != arrow::Type::STRING)
    throw IoError("features have no string column " + name);
  return static_cast<const arrow::StringArray&>(*column);
}

}  // namespace

std::string SplitOf(std::string_view path) {
  // Both local paths and URIs separate components with '/'.
  const auto file = path.rfind('/');
  if (file == std::string_view::npos || file == 0) return "";
  const auto label = path.rfind('/', file - 1);
  if (label == std::string_view::npos || label == 0) return "";
  const auto split = path.rfind('/', label - 1);
  return std::string(path.substr(split == std::string_view::npos ? 0 : split + 1,
                                 label - (split == std::string_view::npos ? 0 : split + 1)));
}

LabelledRows ReadLabelledRows(const OutputLayout& output, const nlohmann::json& manifest,
                              const std::string& column, const std::string& split) {
  if (column == "pca" && manifest.at("pca").contains("skipped")) {
    throw UsageError(output.root.uri() + " has no PCA (" +
                     manifest.at("pca").at("skipped").get<std::string>() + "); run orchard on more images");
  }
  LabelledRows rows;
  std::set<std::string> splits;
  for (const auto& name : manifest.at("files").at("features")) {
    ReadParquetBatches(output.root.child(name.get<std::string>()), [&](const auto& batch) {
      const auto& paths = StringColumn(*batch, "path");
      const auto& labels = StringColumn(*batch, "label");
      const FloatRows values = FloatColumn(*batch, column);
      rows.dim = values.dim;
      for (std::int64_t i = 0; i < batch->num_rows(); ++i) {
        const auto path = paths.GetView(i);
        std::string row_split = SplitOf(path);
        if (row_split != split) {
          splits.insert(std::move(row_split));
          continue;
        }
        rows.paths.emplace_back(path);
        rows.labels.emplace_back(labels.GetView(i));
        const auto row = values.values.subspan(static_cast<std::size_t>(i) * values.dim, values.dim);
        rows.values.insert(rows.values.end(), row.begin(), row.end());
      }
    });
  }
  if (rows.size() == 0) {
    std::string found;
    for (const auto& s : splits) found += (found.empty() ? "" : ", ") + ("'" + s + "'");
    throw UsageError("no rows of " + output.root.uri() + " are in split '" + split +
                     "' (the folder above the label " +
                     "folder); splits found: " + (found.empty() ? "none" : found));
  }
  return rows;
}

}  // namespace orchard
