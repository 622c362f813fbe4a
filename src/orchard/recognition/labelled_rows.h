#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/pipeline/output_layout.h"

namespace orchard {

// Rows of an `orchard run` output: path, label and one float vector column, row-major.
struct LabelledRows {
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  std::vector<float> values;
  std::size_t dim = 0;

  std::size_t size() const { return paths.size(); }
};

// The split an image belongs to: the name of the folder above its label folder. In the layout
// <root>/<split>/<Label>/<file> that is the component right after the run's input root; a manifest listing
// such paths gives the same answer. "" when the path has no such folder.
std::string SplitOf(std::string_view path);

// Reads `column` ("features" or "pca") of the rows whose SplitOf(path) == split, in file order.
// Throws UsageError naming the splits that exist when none match, or, for "pca", when the run skipped its PCA
// (too few rows).
LabelledRows ReadLabelledRows(const OutputLayout& output, const nlohmann::json& manifest,
                              const std::string& column, const std::string& split);

}  // namespace orchard
