#include "orchard/storage/input_listing.h"

#include <arrow/util/async_generator.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/common/utf8.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;

bool IsHiddenBelow(const std::string& path, std::size_t root_length) {
  std::size_t start = root_length;
  while (start < path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    if (end > start && IsHiddenName(std::string_view(path).substr(start, end - start))) return true;
    start = end + 1;
  }
  return false;
}

bool IsInput(const arrow::fs::FileInfo& info, std::size_t root_length) {
  return info.type() != arrow::fs::FileType::Directory && !IsHiddenBelow(info.path(), root_length);
}

// Walks a local folder. Arrow's local listing silently drops entries it cannot stat(), such as a dangling
// symlink, and follows symlinked folders without end (a loop `Apple/loop -> ..` lists every image again at
// each level, until the kernel's 40-link limit): walked here instead, so that every entry that is not a
// folder is listed (one that cannot be read becomes a "read" error row) and every real folder is walked once.
// Symlinked folders are walked after the real tree, so that a folder is listed under its real path rather
// than through a link to it; a link to a folder walked already (a loop, or a second link) is skipped and
// reported.
class LocalWalk {
 public:
  explicit LocalWalk(const ListingCallbacks& callbacks) : callbacks_(callbacks) {}

  // Every file below `root`, sorted. Throws IoError when a folder cannot be listed.
  std::vector<std::string> Files(const fs::path& root) {
    Walk(root);
    while (!links_.empty()) {
      const fs::path link = std::move(links_.front());
      links_.pop_front();
      Walk(link);
    }
    std::sort(files_.begin(), files_.end());
    return std::move(files_);
  }

 private:
  using FolderId = std::pair<dev_t, ino_t>;

  void Walk(const fs::path& folder) {
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) return;  // gone since it was seen: nothing to list
    if (!visited_.insert({info.st_dev, info.st_ino}).second) return SkipSecondVisit(folder);
    std::error_code error;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
      if (!IsHiddenName(it->path().filename().string())) entries.push_back(*it);
    }
    if (error) throw IoError(folder.string() + ": cannot list: " + error.message());
    std::sort(entries.begin(), entries.end());
    for (const auto& entry : entries) {
      std::error_code type_error;
      if (!entry.is_directory(type_error)) {
        files_.push_back(entry.path().string());
      } else if (entry.is_symlink(type_error)) {
        links_.push_back(entry.path());
      } else {
        Walk(entry.path());
      }
    }
  }

  // Reported once per link (a link is never walked through, so a loop is not met again).
  void SkipSecondVisit(const fs::path& folder) {
    if (!callbacks_.on_warning) return;
    std::error_code error;
    const auto target = fs::canonical(folder, error).string();
    const auto parent = fs::canonical(folder.parent_path(), error).string();
    const bool loop = parent == target || parent.starts_with(target + "/");
    callbacks_.on_warning("skipped " + folder.string() + ": " +
                          (fs::is_symlink(folder, error) ? "a symlink to " : "the same folder as ") + target +
                          (loop ? ", which contains it (a symlink loop)" : ", listed already"));
  }

  const ListingCallbacks& callbacks_;
  std::set<FolderId> visited_;
  std::deque<fs::path> links_;
  std::vector<std::string> files_;
};

std::int64_t MillisecondsSinceEpoch(arrow::fs::TimePoint time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

bool EmitFile(const Location& root, const arrow::fs::FileInfo& info, const ListingCallbacks& callbacks) {
  Location file{root.fs, info.path()};
  std::string label = FolderLabel(file);
  InputItem item{std::move(file), std::move(label)};
  if (info.size() != arrow::fs::kNoSize) item.listed_size = info.size();
  if (info.mtime() != arrow::fs::kNoTime) item.listed_mtime_ms = MillisecondsSinceEpoch(info.mtime());
  return callbacks.emit(std::move(item));
}

// A local folder is listed whole and sorted, so runs are repeatable and the total is known at once (the
// progress bar's ETA). An object store lists page by page (1,000 keys each): each page is handed on as it
// arrives, so a huge prefix does not delay the first image; S3 returns keys in lexicographic order anyway.
// Object stores have no symlinks.
void ListFolder(const Location& root, const ListingCallbacks& callbacks) {
  if (root.fs->type_name() == "local") {
    const auto paths = LocalWalk(callbacks).Files(root.path);
    if (callbacks.on_total) callbacks.on_total(paths.size());
    for (const auto& path : paths) {
      if (!EmitFile(root, arrow::fs::FileInfo(path, arrow::fs::FileType::File), callbacks)) return;
    }
    return;
  }
  arrow::fs::FileSelector selector;
  selector.base_dir = root.path;
  selector.recursive = true;
  auto pages = root.fs->GetFileInfoGenerator(selector);
  while (true) {
    const auto page = ValueOrThrow(pages().result(), root.uri());
    if (arrow::IsIterationEnd(page)) return;
    for (const auto& info : page) {
      if (IsInput(info, root.path.size()) && !EmitFile(root, info, callbacks)) return;
    }
  }
}

// A local entry is normalised as an absolute path is (ResolveLocation): `Kiwi/./a.jpg`, `./Kiwi/a.jpg` and
// `Kiwi//a.jpg` name one file, so they are one input (not four rows, the PCA counting the image four times)
// labelled Kiwi (not "." or ""). An object store's keys are taken as written: `a//b` is another key there.
Location ResolveManifestEntry(const Location& manifest, const std::string& entry) {
  if (entry.find("://") != std::string::npos || entry.front() == '/') return ResolveLocation(entry);
  if (manifest.fs->type_name() == "local") return ResolveLocation(manifest.parent().path + "/" + entry);
  return manifest.parent().child(entry);
}

// A line that names no input still becomes a row, an error row naming `<manifest>:<line>`, so that the job
// reports every line it could not use instead of failing after the work is done or dropping it silently.
// An image given as --input was read as lines of its bytes: a row of nonsense paths per "line". Text has no
// NUL byte; JPEG, PNG and WebP headers have.
void RefuseBinaryManifest(const Location& manifest, std::string_view content) {
  if (content.find('\0') == std::string_view::npos) return;
  throw UsageError(manifest.uri() +
                   " is not a text manifest (it holds NUL bytes: an image or other binary file?); --input "
                   "takes a folder, or a text file with one path per line (optionally TAB label)");
}

InputItem ManifestLineError(const Location& manifest, std::size_t number, const std::string& reason) {
  const std::string line = std::to_string(number);
  std::string message = "manifest line ";
  message.append(line).append(": ").append(reason);
  return {{manifest.fs, manifest.path + ':' + line}, "", {}, std::move(message)};
}

// One line, without its end-of-line: `path` or `path TAB label`.
InputItem ParseManifestLine(const Location& manifest, std::size_t number, const std::string& line) {
  const auto tab = line.find('\t');
  const std::string path = line.substr(0, tab);
  if (path.empty()) return ManifestLineError(manifest, number, "empty path before the TAB");
  Location file;
  try {
    file = ResolveManifestEntry(manifest, path);
  } catch (const UsageError& e) {  // a URI that does not parse: this line's error, not the whole job's
    return ManifestLineError(manifest, number, e.what());
  }
  if (tab == std::string::npos) {
    std::string label = FolderLabel(file);
    return {std::move(file), std::move(label)};
  }
  std::string label = line.substr(tab + 1);
  if (label.empty()) return ManifestLineError(manifest, number, "empty label after the TAB");
  return {std::move(file), std::move(label)};
}

void ListManifest(const Location& manifest, const ListingCallbacks& callbacks) {
  std::shared_ptr<arrow::Buffer> text;
  try {
    text = ReadAll(manifest);
  } catch (const InputError& e) {
    throw IoError(manifest.uri() + ": " + e.what());
  }
  std::string_view content(reinterpret_cast<const char*>(text->data()),
                           static_cast<std::size_t>(text->size()));
  RefuseBinaryManifest(manifest, content);
  // Windows editors start UTF-8 files with a byte-order mark and end lines with CRLF.
  if (content.starts_with("\xEF\xBB\xBF")) content.remove_prefix(3);
  std::istringstream lines{std::string(content)};
  std::string line;
  for (std::size_t number = 1; std::getline(lines, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (!callbacks.emit(ParseManifestLine(manifest, number, line))) return;
  }
}

}  // namespace

void CheckManifestIsText(const Location& manifest) {
  const OpenedFile opened = OpenForRead(manifest);
  constexpr std::int64_t kHead = 4096;
  const auto head = ValueOrThrow(opened.file->ReadAt(0, std::min(kHead, opened.size)), manifest.uri());
  RefuseBinaryManifest(manifest,
                       {reinterpret_cast<const char*>(head->data()), static_cast<std::size_t>(head->size())});
}

std::string FolderLabel(const Location& file) { return file.parent().name(); }

namespace {

// The size and modification time of `item`'s bytes; -1 for both when there are none to read.
InputKey KeyOfBytes(const InputItem& item) {
  if (!item.listing_error.empty()) return {};
  if (item.listed_size && item.listed_mtime_ms) return {*item.listed_size, *item.listed_mtime_ms, {}};
  const auto& location = item.location;
  const auto info = location.fs->GetFileInfo(location.path);
  if (!info.ok()) {
    if (location.fs->type_name() == "local") return {};  // unreadable: the read makes it an error row
    ThrowIfError(info.status(), location.uri());
  }
  if (info->type() != arrow::fs::FileType::File) return {};
  return {info->size(), MillisecondsSinceEpoch(info->mtime()), {}};
}

}  // namespace

InputKey KeyOfInput(const InputItem& item) {
  InputKey key = KeyOfBytes(item);
  // As the rows hold it (feature_table.cpp): a label that is not UTF-8 is escaped in a staged row, and the
  // inventory's label column is a UTF-8 string column that Spark and pyarrow read.
  key.label = EscapeInvalidUtf8(item.label);
  return key;
}

bool KeyNeedsRequest(const InputItem& item) {
  return item.listing_error.empty() && !(item.listed_size && item.listed_mtime_ms) &&
         item.location.fs->type_name() != "local";
}

bool IsHiddenName(std::string_view name) {
  if (name.starts_with("_metadata") || name.starts_with("_common_metadata")) return false;
  return name.starts_with('.') || (name.starts_with('_') && name.find('=') == std::string_view::npos) ||
         name.ends_with("._COPYING_");
}

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
