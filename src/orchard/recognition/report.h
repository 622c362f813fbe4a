#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace orchard {

// Where report.html's template and the plotting libraries inlined into it are found:
//   template:  $ORCHARD_REPORT_TEMPLATE, else <source>/src/orchard/recognition/report_template.html
//   libraries: $ORCHARD_NODE_MODULES, else <source>/.tools/node_modules (scripts/setup.sh installs the pinned
//              vega, vega-lite and vega-embed there with npm)
struct ReportAssets {
  std::filesystem::path template_file;
  std::vector<std::filesystem::path> scripts;  // in load order
};

ReportAssets LocateReportAssets();

// The template with the libraries inlined as <script> elements and `data` as JSON: one file that renders
// offline. `data` is what the template reads (see report_template.html): metrics, variance, scatter,
// throughput, provenance strings.
std::string RenderReport(const std::string& template_text, const std::vector<std::string>& scripts,
                         const nlohmann::json& data);

// Renders `template_file` with LocateReportAssets()'s libraries into `file` (the one HTML writer of eval's
// report and audit's). Throws IoError naming what is missing.
void WriteHtmlReport(const std::filesystem::path& file, const std::filesystem::path& template_file,
                     const nlohmann::json& data);

// WriteHtmlReport() with LocateReportAssets()'s template (report_template.html).
void WriteReport(const std::filesystem::path& file, const nlohmann::json& data);

}  // namespace orchard
