#include "orchard/pipeline/output_guard.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

constexpr std::array kPartFolders = {std::string_view("features"), std::string_view("errors"),
                                     std::string_view("_staging")};
constexpr std::array kCommitFiles = {
    std::string_view("_job.json"),         std::string_view("_SUCCESS"),
    std::string_view("pca.parquet"),       std::string_view("pca_moments.parquet"),
    std::string_view("inputs.parquet"),    std::string_view("index.faiss"),
    std::string_view("index_keys.parquet")};

template <std::size_t N>
bool OneOf(std::string_view name, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return parts;
}

// Hadoop's local file system writes a checksum ".<name>.crc" next to each file it writes (the Spark job).
std::string_view CrcTarget(std::string_view name) {
  if (name.size() > 5 && name.front() == '.' && name.ends_with(".crc"))
    return name.substr(1, name.size() - 5);
  return {};
}

bool IsPartFile(std::string_view name) {
  if (const auto target = CrcTarget(name); !target.empty()) name = target;
  return (name.starts_with("part-") && name.ends_with(".parquet")) || name == "_SUCCESS";
}

// "pca-a012.parquet" -> "pca.parquet": the commit files of an incremental run carry its attempt.
std::string WithoutAttempt(std::string_view name) {
  constexpr std::string_view kExtension = ".parquet";
  const auto dash = name.rfind("-a");
  if (dash == std::string_view::npos || !name.ends_with(kExtension)) return {};
  const auto digits = name.substr(dash + 2, name.size() - kExtension.size() - dash - 2);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return {};
  return std::string(name.substr(0, dash)) + std::string(kExtension);
}

bool IsCommitFile(std::string_view name) {
  if (const auto target = CrcTarget(name); !target.empty()) name = target;
  if (name.ends_with(kTemporarySuffix)) name.remove_suffix(kTemporarySuffix.size());
  return OneOf(name, kCommitFiles) || OneOf(WithoutAttempt(name), kCommitFiles);
}

std::string LocalPlace(const std::string& path) {
  std::error_code error;
  auto place = std::filesystem::weakly_canonical(std::filesystem::absolute(path), error);
  if (error) place = std::filesystem::absolute(path).lexically_normal();
  std::string text = place.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

bool IsRemote(std::string_view place) { return place.find("://") != std::string_view::npos; }

// Whether `inner` is `outer` or below it, on '/' boundaries.
bool Within(std::string_view inner, std::string_view outer) {
  if (inner == outer) return true;
  if (!inner.starts_with(outer)) return false;
  return outer.ends_with('/') || inner[outer.size()] == '/';
}

// Files that merely carry orchard's names (a notebook's own pca.parquet, a features/ folder of another tool's
// part-*.parquet) are not proof that orchard wrote them: only a job record is. Every job writes _job.json
// before any other file (`orchard run` first of all, the Spark job before its first part), and _SUCCESS last.
// Empty part folders, and the temporary name of a _job.json whose writing was cut, need no record.
void CheckJobRecord(std::string_view output, std::span<const std::string> entries) {
  const std::string torn_record = "_job.json" + std::string(kTemporarySuffix);
  bool recorded = false;
  const std::string* unrecorded = nullptr;
  for (const auto& entry : entries) {
    if (entry == "_job.json" || entry == "_SUCCESS") recorded = true;
    if (!OneOf(entry, kPartFolders) && entry != torn_record && !unrecorded) unrecorded = &entry;
  }
  if (recorded || !unrecorded) return;
  throw UsageError(
      "output " + std::string(output) + " holds '" + *unrecorded +
      "' but no job record of orchard's (_job.json or _SUCCESS), so orchard cannot tell it wrote "
      "those files; move them away or choose another output");
}

}  // namespace

std::string ComparablePlace(std::string_view path_or_uri) {
  std::string text(path_or_uri);
  // Hadoop writes local URIs "file:/a"; any other URI has "scheme://". A colon alone is part of a file name.
  const bool has_scheme = text.find("://") != std::string::npos || text.starts_with("file:");
  if (!has_scheme) return LocalPlace(text);
  const auto scheme_end = text.find(':');
  std::string scheme = text.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string rest = text.substr(scheme_end + 1);
  if (scheme == "file") {  // file:/a, file:///a, file://localhost/a
    if (rest.starts_with("//")) rest = rest.substr(std::min(rest.size(), rest.find('/', 2)));
    return LocalPlace(rest);
  }
  if (scheme == "s3a" || scheme == "s3n") scheme = "s3";
  rest = rest.substr(0, rest.find('?'));
  std::string key;
  for (const auto part : Components(rest)) {
    if (!key.empty()) key += '/';
    key.append(part);
  }
  return scheme + "://" + key;
}

bool IsOrchardOutputEntry(std::string_view relative_path) {
  const auto parts = Components(relative_path);
  if (parts.empty()) return false;
  if (parts.size() == 1) return OneOf(parts[0], kPartFolders) || IsCommitFile(parts[0]);
  if (!OneOf(parts[0], kPartFolders)) return false;
  // Spark's committer works in <folder>/_temporary/ and removes it when the job commits.
  if (parts[1] == "_temporary") return true;
  return parts.size() == 2 && IsPartFile(parts[1]);
}

void CheckOnlyOrchardEntries(std::string_view output, std::span<const std::string> entries) {
  for (const auto& entry : entries) {
    if (IsOrchardOutputEntry(entry)) continue;
    throw UsageError(
        "output " + std::string(output) + " holds '" + entry +
        "', which orchard did not write; orchard deletes only its own files (features/, errors/, "
        "_staging/, _job.json, _SUCCESS, pca.parquet, pca_moments.parquet, inputs.parquet, index.faiss, "
        "index_keys.parquet), so move it away or choose another output");
  }
}

void CheckOverwrite(std::string_view input, std::string_view output, std::span<const std::string> entries,
                    bool allow_bucket_root) {
  const std::string in = ComparablePlace(input);
  const std::string out = ComparablePlace(output);
  const std::string where = "output " + std::string(output);
  if (in == out) throw UsageError(where + " is the input; replacing the output would delete the input");
  if (Within(in, out)) {
    throw UsageError(where + " contains the input " + std::string(input) +
                     "; replacing the output would delete the input");
  }
  if (Within(out, in)) {
    throw UsageError(where + " lies inside the input " + std::string(input) +
                     "; replacing the output could delete input files");
  }
  if (IsRemote(out) && out.find('/', out.find("://") + 3) == std::string::npos && !allow_bucket_root) {
    throw UsageError(where +
                     " is a whole bucket; replacing its contents needs --overwrite-bucket-root as well");
  }
  CheckOnlyOrchardEntries(output, entries);
  CheckJobRecord(output, entries);
}

namespace {

bool IsRecord(const std::filesystem::path& file, std::span<const std::string_view> keys) {
  std::ifstream in(file, std::ios::binary);
  const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() &&
         std::ranges::all_of(keys, [&](std::string_view key) { return json.contains(key); });
}

}  // namespace

void CheckReportFolder(const std::string& report, std::string_view output, const ReportFiles& files) {
  if (Within(ComparablePlace(report), ComparablePlace(output))) {
    throw UsageError(
        "report folder " + report + " lies inside the output " + std::string(output) +
        " it reports on (its files would become part of that output); choose a folder outside it");
  }
  const std::filesystem::path dir(report);
  std::error_code error;
  const auto record = dir / files.record;
  const bool earlier = std::filesystem::is_regular_file(std::filesystem::symlink_status(record, error)) &&
                       IsRecord(record, files.record_keys);
  for (const auto& file : {record, dir / files.page}) {
    const auto status = std::filesystem::symlink_status(file, error);
    if (!std::filesystem::exists(status)) continue;
    if (!earlier || !std::filesystem::is_regular_file(status)) {
      throw UsageError(file.string() + " exists and is not a file of an earlier report of orchard's (" +
                       std::string(files.record) + " with its keys); nothing was written: choose another " +
                       "--report folder, or move it away");
    }
  }
}

std::vector<std::string> ListOutputEntries(const OutputLayout& output, const Location& folder) {
  arrow::fs::FileSelector selector;
  selector.base_dir = folder.path;
  selector.allow_not_found = true;
  selector.recursive = true;
  const auto infos = ValueOrThrow(folder.fs->GetFileInfo(selector), folder.uri());
  const bool local = folder.fs->type_name() == "local";
  std::string root = output.root.path;
  if (!root.ends_with('/')) root += '/';
  std::vector<std::string> entries;
  for (const auto& info : infos) {
    const std::string relative =
        info.path().starts_with(root) ? info.path().substr(root.size()) : info.path();
    if (local && std::filesystem::is_symlink(info.path())) {
      throw UsageError("output " + output.root.uri() + " holds the symbolic link '" + relative +
                       "'; orchard never writes one and deletes nothing through it");
    }
    entries.push_back(relative);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

void ClearOutput(const OutputLayout& output, const Location& input, bool allow_bucket_root) {
  auto entries = ListOutputEntries(output, output.root);
  CheckOverwrite(input.uri(), output.root.uri(), entries, allow_bucket_root);
  // _SUCCESS first (the job is no longer finished), the job record last: it is what lets a later --overwrite
  // clear what is left if this one is cut short (deleting it second left an output nothing would accept).
  const auto rank = [](const std::string& entry) {
    return entry == "_SUCCESS" ? 0 : entry == "_job.json" ? 2 : 1;
  };
  std::ranges::stable_sort(entries, {}, rank);
  for (const auto& entry : entries) {
    if (entry.find('/') != std::string::npos) continue;  // deleted with its top-level folder
    const Location target = output.root.child(entry);
    if (GetEntryType(target) == EntryType::kDirectory) {
      ThrowIfError(target.fs->DeleteDir(target.path), target.uri());
    } else {
      ThrowIfError(target.fs->DeleteFile(target.path), target.uri());
    }
    Failpoint("clear-output");
  }
}

}  // namespace orchard
