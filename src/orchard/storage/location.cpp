#include "orchard/storage/location.h"

#include <filesystem>

#include <arrow/filesystem/localfs.h>
#include <arrow/io/interfaces.h>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {

std::string Location::uri() const {
  if (fs->type_name() == "local") return path;
  return fs->type_name() + "://" + path;
}

Location Location::child(std::string_view name) const {
  std::string joined = path;
  if (!joined.empty() && joined.back() != '/') joined += '/';
  joined += name;
  return {fs, std::move(joined)};
}

Location Location::parent() const {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return {fs, slash == 0 ? "/" : ""};
  return {fs, path.substr(0, slash)};
}

std::string Location::name() const {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Location ResolveLocation(std::string_view uri_or_path) {
  if (uri_or_path.empty()) throw UsageError("empty path");
  const std::string text(uri_or_path);
  if (text.find("://") == std::string::npos) {
    // Arrow wants absolute local paths; lexically_normal drops "./" and trailing slashes users type.
    auto absolute = std::filesystem::absolute(text).lexically_normal().string();
    while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    return {std::make_shared<arrow::fs::LocalFileSystem>(), absolute};
  }
  std::string path;
  auto fs = arrow::fs::FileSystemFromUri(text, &path);
  if (!fs.ok()) throw UsageError("cannot open '" + text + "': " + fs.status().message());
  return {*fs, path};
}

std::shared_ptr<arrow::Buffer> ReadAll(const Location& location) {
  auto file = location.fs->OpenInputFile(location.path);
  if (!file.ok()) throw InputError("cannot open: " + file.status().message());
  auto size = (*file)->GetSize();
  if (!size.ok()) throw InputError("cannot read size: " + size.status().message());
  auto buffer = (*file)->ReadAt(0, *size);
  if (!buffer.ok()) throw InputError("cannot read: " + buffer.status().message());
  if ((*buffer)->size() != *size) throw InputError("short read (file changed while reading?)");
  return *buffer;
}

EntryType GetEntryType(const Location& location) {
  const auto info = ValueOrThrow(location.fs->GetFileInfo(location.path), location.uri());
  switch (info.type()) {
    case arrow::fs::FileType::File:
      return EntryType::kFile;
    case arrow::fs::FileType::Directory:
      return EntryType::kDirectory;
    default:
      return EntryType::kMissing;
  }
}

}  // namespace orchard
