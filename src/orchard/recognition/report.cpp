#include "orchard/recognition/report.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "orchard/common/error.h"

namespace orchard {
namespace {

constexpr const char* kLibrariesMarker = "<!-- ORCHARD_LIBRARIES -->";
constexpr const char* kDataMarker = "__ORCHARD_DATA__";

std::filesystem::path FromEnv(const char* name, const std::filesystem::path& fallback) {
  if (const char* value = std::getenv(name); value && *value) return value;
  return fallback;
}

std::string ReadFile(const std::filesystem::path& path, const std::string& hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string() + ": cannot read" + hint);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Inside <script> only "</script" (any case) ends the element. It can only sensibly occur inside a JavaScript
// string, where "<\/script" means the same; a bare "</" must stay as it is, since it may end a regular
// expression literal (/</g).
std::string EscapeScript(const std::string& code) {
  std::string out;
  out.reserve(code.size());
  for (std::size_t i = 0; i < code.size(); ++i) {
    out += code[i];
    if (code[i] == '<' && i + 7 < code.size() && code[i + 1] == '/' &&
        std::equal(code.begin() + static_cast<std::ptrdiff_t>(i) + 2,
                   code.begin() + static_cast<std::ptrdiff_t>(i) + 8, "script",
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
      out += '\\';
    }
  }
  return out;
}

// JSON where '<' only occurs inside strings, so the \u003c escape keeps both meaning and the HTML parser
// happy.
std::string EscapeJson(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (const char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

void ReplaceOnce(std::string& text, const std::string& marker, const std::string& value) {
  const auto at = text.find(marker);
  if (at == std::string::npos) throw IoError("report template has no " + marker);
  text.replace(at, marker.size(), value);
}

}  // namespace

ReportAssets LocateReportAssets() {
  const std::filesystem::path source(ORCHARD_SOURCE_DIR);
  const auto modules = FromEnv("ORCHARD_NODE_MODULES", source / ".tools" / "node_modules");
  return {
      FromEnv("ORCHARD_REPORT_TEMPLATE", source / "src" / "orchard" / "recognition" / "report_template.html"),
      {modules / "vega" / "build" / "vega.min.js", modules / "vega-lite" / "build" / "vega-lite.min.js",
       modules / "vega-embed" / "build" / "vega-embed.min.js"}};
}

std::string RenderReport(const std::string& template_text, const std::vector<std::string>& scripts,
                         const nlohmann::json& data) {
  std::string libraries;
  for (const auto& code : scripts) libraries += "<script>" + EscapeScript(code) + "</script>\n";
  std::string html = template_text;
  // The data goes in first so that a marker-like string inside a library cannot be mistaken for it.
  ReplaceOnce(html, kDataMarker, EscapeJson(data.dump()));
  ReplaceOnce(html, kLibrariesMarker, libraries);
  return html;
}

void WriteReport(const std::filesystem::path& file, const nlohmann::json& data) {
  WriteHtmlReport(file, LocateReportAssets().template_file, data);
}

void WriteHtmlReport(const std::filesystem::path& file, const std::filesystem::path& template_file,
                     const nlohmann::json& data) {
  const ReportAssets assets = LocateReportAssets();
  const std::string hint = " (run scripts/setup.sh, or set ORCHARD_NODE_MODULES / ORCHARD_REPORT_TEMPLATE)";
  std::vector<std::string> scripts;
  for (const auto& path : assets.scripts) scripts.push_back(ReadFile(path, hint));
  const std::string html = RenderReport(ReadFile(template_file, hint), scripts, data);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << html;
  out.close();
  if (!out) throw IoError(file.string() + ": cannot write");
}

}  // namespace orchard
