#include "orchard/audit/audit_report.h"

#include <set>
#include <string>
#include <string_view>

#include "orchard/common/error.h"
#include "orchard/recognition/report.h"
#include "orchard/storage/location.h"

namespace orchard {
namespace {

constexpr std::size_t kEntriesShown = 40;             // per section, in the page's tables
constexpr std::size_t kMembersShown = 6;              // per near-duplicate group
constexpr std::int64_t kMaxThumbnailBytes = 1 << 20;  // larger files are named, not embedded

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto byte = [&](std::size_t at) {
      return at < bytes.size() ? static_cast<unsigned>(static_cast<unsigned char>(bytes[at])) : 0u;
    };
    const unsigned triple = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(triple >> 18) & 63];
    out += kAlphabet[(triple >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(triple >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[triple & 63] : '=';
  }
  return out;
}

// The browser needs the type; the content says it (orchard never trusts file names).
std::string_view MimeType(std::string_view bytes) {
  if (bytes.starts_with("\xFF\xD8")) return "image/jpeg";
  if (bytes.starts_with("\x89PNG")) return "image/png";
  if (bytes.starts_with("RIFF") && bytes.size() > 12 && bytes.substr(8, 4) == "WEBP") return "image/webp";
  return "";
}

// The images the page shows: the first entries of each section (and their matches).
std::set<std::string> ShownPaths(const nlohmann::json& audit) {
  std::set<std::string> paths;
  const auto take = [&](const nlohmann::json& list, const std::vector<std::string>& keys) {
    for (std::size_t i = 0; i < std::min(kEntriesShown, list.size()); ++i) {
      for (const auto& key : keys) {
        if (list[i].contains(key)) paths.insert(list[i][key].get<std::string>());
      }
    }
  };
  for (std::size_t g = 0; g < std::min(kEntriesShown, audit["near_duplicates"].size()); ++g) {
    const auto& members = audit["near_duplicates"][g]["members"];
    for (std::size_t m = 0; m < std::min(kMembersShown, members.size()); ++m) {
      paths.insert(members[m]["path"].get<std::string>());
    }
  }
  take(audit["cross_split"]["pairs"], {"path", "match_path"});
  take(audit["outliers"], {"path"});
  take(audit["label_issues"], {"path"});
  return paths;
}

nlohmann::json Thumbnails(const std::set<std::string>& paths, nlohmann::json& missing) {
  nlohmann::json thumbnails = nlohmann::json::object();
  for (const auto& path : paths) {
    try {
      const auto bytes = ReadAll(ResolveLocation(path), {}, kMaxThumbnailBytes)->ToString();
      const auto type = MimeType(bytes);
      if (type.empty()) throw InputError("not a JPEG, PNG or WebP image");
      thumbnails[path] = "data:" + std::string(type) + ";base64," + Base64(bytes);
    } catch (const InputError& e) {
      missing.push_back({{"path", path}, {"reason", e.what()}});
    } catch (const UsageError& e) {
      missing.push_back({{"path", path}, {"reason", e.what()}});
    }
  }
  return thumbnails;
}

}  // namespace

void WriteAuditReport(const std::filesystem::path& dir, const nlohmann::json& audit) {
  nlohmann::json missing = nlohmann::json::array();
  const nlohmann::json thumbnails = Thumbnails(ShownPaths(audit), missing);
  const std::filesystem::path template_file =
      std::filesystem::path(ORCHARD_SOURCE_DIR) / "src" / "orchard" / "audit" / "audit_template.html";
  WriteHtmlReport(dir / "audit.html", template_file,
                  {{"audit", audit},
                   {"thumbnails", thumbnails},
                   {"missing_thumbnails", missing},
                   {"entries_shown", kEntriesShown},
                   {"members_shown", kMembersShown}});
}

}  // namespace orchard
