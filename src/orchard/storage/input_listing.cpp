#include "orchard/storage/input_listing.h"

#include <arrow/util/async_generator.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

bool IsHidden(const std::string& path, std::size_t root_length) {
  return path.find("/.", root_length) != std::string::npos;
}

bool IsInput(const arrow::fs::FileInfo& info, std::size_t root_length) {
  return info.type() != arrow::fs::FileType::Directory && !IsHidden(info.path(), root_length);
}

// Arrow's local listing silently drops entries it cannot stat(), such as a dangling symlink: walked here, so
// that every entry that is not a folder is listed and one it cannot read becomes a "read" error row.
std::vector<std::string> ListLocalFiles(const Location& root) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  std::error_code error;
  fs::recursive_directory_iterator it(root.path, fs::directory_options::follow_directory_symlink, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    std::error_code type_error;
    if (it->is_directory(type_error)) continue;
    const std::string path = it->path().string();
    if (!IsHidden(path, root.path.size())) paths.push_back(path);
  }
  if (error) throw IoError(root.uri() + ": cannot list: " + error.message());
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool EmitFile(const Location& root, const arrow::fs::FileInfo& info, const ListingCallbacks& callbacks) {
  Location file{root.fs, info.path()};
  std::string label = file.parent().name();
  std::optional<std::int64_t> size;
  if (info.size() != arrow::fs::kNoSize) size = info.size();
  return callbacks.emit({std::move(file), std::move(label), size});
}

// A local folder is listed whole and sorted, so runs are repeatable and the total is known at once (the
// progress bar's ETA). An object store lists page by page (1,000 keys each): each page is handed on as it
// arrives, so a huge prefix does not delay the first image; S3 returns keys in lexicographic order anyway.
void ListFolder(const Location& root, const ListingCallbacks& callbacks) {
  arrow::fs::FileSelector selector;
  selector.base_dir = root.path;
  selector.recursive = true;
  const std::size_t root_length = root.path.size();
  if (root.fs->type_name() == "local") {
    const auto paths = ListLocalFiles(root);
    if (callbacks.on_total) callbacks.on_total(paths.size());
    for (const auto& path : paths) {
      if (!EmitFile(root, arrow::fs::FileInfo(path, arrow::fs::FileType::File), callbacks)) return;
    }
    return;
  }
  auto pages = root.fs->GetFileInfoGenerator(selector);
  while (true) {
    const auto page = ValueOrThrow(pages().result(), root.uri());
    if (arrow::IsIterationEnd(page)) return;
    for (const auto& info : page) {
      if (IsInput(info, root_length) && !EmitFile(root, info, callbacks)) return;
    }
  }
}

Location ResolveManifestEntry(const Location& manifest, const std::string& entry) {
  if (entry.find("://") != std::string::npos || entry.front() == '/') return ResolveLocation(entry);
  return manifest.parent().child(entry);
}

void ListManifest(const Location& manifest, const ListingCallbacks& callbacks) {
  std::shared_ptr<arrow::Buffer> text;
  try {
    text = ReadAll(manifest);
  } catch (const InputError& e) {
    throw IoError(manifest.uri() + ": " + e.what());
  }
  std::istringstream lines(std::string(text->ToString()));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto tab = line.find('\t');
    Location file = ResolveManifestEntry(manifest, line.substr(0, tab));
    std::string label = tab == std::string::npos ? file.parent().name() : line.substr(tab + 1);
    if (!callbacks.emit({std::move(file), std::move(label)})) return;
  }
}

}  // namespace

void ListInputs(const Location& root, const ListingCallbacks& callbacks) {
  switch (GetEntryType(root)) {
    case EntryType::kDirectory:
      return ListFolder(root, callbacks);
    case EntryType::kFile:
      return ListManifest(root, callbacks);
    case EntryType::kMissing:
      throw IoError(root.uri() + ": " + DescribeMissing(root));
  }
}

}  // namespace orchard
