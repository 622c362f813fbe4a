#include "orchard/storage/location.h"

#include <arrow/filesystem/localfs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/io_util.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/storage/s3_filesystem.h"

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

namespace {

// The absolute form of a local path, naming the file the operating system would open: "." components,
// repeated and trailing slashes dropped (`Kiwi/./a.jpg`, `Kiwi//a.jpg` are `Kiwi/a.jpg`). A ".." is resolved
// as the kernel does, through the real folder of what precedes it: `lists/../img` where `lists` is a symbolic
// link to `proj/lists` is `proj/img`, not the `img` beside the link that a textual rule would name (and read
// another image under this path). What follows the last ".." keeps its links, so a folder's name still gives
// the label. A prefix that does not exist yet (an output to create) is resolved textually.
std::string NormalisedLocalPath(const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path absolute = fs::absolute(text);
  fs::path prefix, rest;
  bool dotdot = false;
  for (const auto& part : absolute) {
    if (part == "..") {
      prefix /= rest;
      prefix /= part;
      rest.clear();
      dotdot = true;
    } else if (part != "." && !part.empty()) {
      rest /= part;
    }
  }
  std::error_code error;
  const fs::path real = dotdot ? fs::canonical(prefix, error) : fs::path();
  std::string normal = ((dotdot && !error ? real : prefix) / rest).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace

Location ResolveLocation(std::string_view uri_or_path) {
  if (uri_or_path.empty()) throw UsageError("empty path");
  const std::string text(uri_or_path);
  if (text.find("://") == std::string::npos) {
    return {std::make_shared<arrow::fs::LocalFileSystem>(), NormalisedLocalPath(text)};
  }
  // S3 is resolved by orchard, not FileSystemFromUri: that would take keys from the URI and ignore our
  // endpoint, region and retry settings.
  const auto scheme_end = text.find("://");
  std::string scheme = text.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme == "s3") return ResolveS3Location("s3" + text.substr(scheme_end));
  std::string path;
  auto fs = arrow::fs::FileSystemFromUri(text, &path);
  if (!fs.ok()) throw UsageError("cannot open '" + text + "': " + fs.status().message());
  if ((*fs)->type_name() == "local") path = NormalisedLocalPath(path);  // file:///a/./b is /a/b
  return {*fs, path};
}

namespace {

// A local file that cannot be read, or a remote object that is gone, is a problem of that one input. Any
// other remote failure (network, 5xx or throttling still there after the retries) is the storage's: it must
// stop the job rather than turn every image that follows into an error row, and a second run resumes.
[[noreturn]] void ThrowReadFailure(const Location& location, const std::string& what,
                                   const arrow::Status& status) {
  // Arrow keeps the errno in the status's detail, not its message: "Permission denied" or "No such file or
  // directory" is the reason a user needs.
  const int errno_value = arrow::internal::ErrnoFromStatus(status);
  const std::string reason =
      status.message() + (errno_value != 0 ? std::string(": ") + std::strerror(errno_value) : std::string());
  if (location.fs->type_name() == "local" || errno_value == ENOENT) throw InputError(what + ": " + reason);
  throw IoError(location.uri() + ": " + what + ": " + reason + " (storage unavailable)");
}

arrow::fs::FileInfo ListedFile(const Location& location, std::int64_t size) {
  arrow::fs::FileInfo info(location.path, arrow::fs::FileType::File);
  info.set_size(size);
  return info;
}

}  // namespace

void CheckFileSize(std::int64_t size, std::optional<std::int64_t> max_bytes) {
  if (max_bytes && size > *max_bytes) {
    throw InputError("file too large: " + std::to_string(size) + " bytes, over the limit of " +
                     std::to_string(*max_bytes) + " bytes");
  }
}

OpenedFile OpenForRead(const Location& location, std::optional<std::int64_t> known_size,
                       std::optional<std::int64_t> max_bytes) {
  // Opening a FIFO blocks until a writer appears: such local entries are refused before they are opened.
  std::error_code error;
  const auto status = std::filesystem::status(location.path, error);
  if (location.fs->type_name() == "local" && !error && std::filesystem::exists(status) &&
      !std::filesystem::is_regular_file(status)) {
    throw InputError("not a regular file (a FIFO, socket, device or folder)");
  }
  auto file = known_size ? location.fs->OpenInputFile(ListedFile(location, *known_size))
                         : location.fs->OpenInputFile(location.path);
  if (!file.ok()) ThrowReadFailure(location, "cannot open", file.status());
  auto size = (*file)->GetSize();
  if (!size.ok()) ThrowReadFailure(location, "cannot read size", size.status());
  CheckFileSize(*size, max_bytes);
  return {location, *file, *size};
}

std::shared_ptr<arrow::Buffer> ReadWhole(const OpenedFile& opened) {
  auto buffer = opened.file->ReadAt(0, opened.size);
  if (!buffer.ok()) ThrowReadFailure(opened.location, "cannot read", buffer.status());
  if ((*buffer)->size() != opened.size) throw InputError("short read (file changed while reading?)");
  return *buffer;
}

std::shared_ptr<arrow::Buffer> ReadAll(const Location& location, std::optional<std::int64_t> known_size,
                                       std::optional<std::int64_t> max_bytes) {
  return ReadWhole(OpenForRead(location, known_size, max_bytes));
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

std::string DescribeMissing(const Location& location) {
  if (location.fs->type_name() == "local") return "no such file or folder";
  const std::string bucket = location.path.substr(0, location.path.find('/'));
  const auto info = location.fs->GetFileInfo(bucket);
  if (info.ok() && info->type() == arrow::fs::FileType::NotFound) {
    return "bucket '" + bucket + "' does not exist";
  }
  return "no such object or prefix";
}

}  // namespace orchard

namespace orchard {

namespace {

// fsync(2) of a local file or folder (MakeDurable says why).
void SyncLocal(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw IoError(path + ": open for fsync: " + std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) throw IoError(path + ": fsync: " + std::strerror(error));
}

}  // namespace

void MakeDurable(const Location& location) {
  if (location.fs->type_name() != "local") return;
  SyncLocal(location.path, O_RDONLY);
  SyncLocal(location.parent().path, O_RDONLY | O_DIRECTORY);
}

void WriteAtomically(const Location& location, const std::function<void(const Location&)>& write) {
  const std::string type = location.fs->type_name();
  if (type == "s3" || type == "gcs") {
    write(location);
    return;
  }
  const Location temporary = location.parent().child(location.name() + std::string(kTemporarySuffix));
  try {
    write(temporary);
  } catch (...) {
    (void)temporary.fs->DeleteFile(temporary.path);  // best effort: the original error is the one to report
    throw;
  }
  // The data before the name, the name before the caller goes on (see MakeDurable).
  if (type == "local") SyncLocal(temporary.path, O_RDONLY);
  ThrowIfError(location.fs->Move(temporary.path, location.path), location.uri());
  if (type == "local") SyncLocal(location.parent().path, O_RDONLY | O_DIRECTORY);
}

void WriteText(const Location& location, const std::string& text) {
  WriteAtomically(location, [&](const Location& target) {
    auto out = ValueOrThrow(target.fs->OpenOutputStream(target.path), target.uri());
    ThrowIfError(out->Write(text), target.uri());
    ThrowIfError(out->Close(), target.uri());
  });
}

}  // namespace orchard
