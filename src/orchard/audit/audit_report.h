#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace orchard {

// Writes audit.html into `dir` from audit.json's content: summary, the similarity histogram and leakage per
// class (Vega-Lite), and tables of each section with thumbnails (the images' own bytes as data: URIs, read
// through the storage layer, so s3:// inputs work) of the first entries. A thumbnail that cannot be read is
// left out and named in the page. Throws IoError when the page cannot be written.
void WriteAuditReport(const std::filesystem::path& dir, const nlohmann::json& audit);

}  // namespace orchard
