#pragma once

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace orchard {

// A place in storage: a file system (local disk, or an object store) and a path inside it. Everything that
// reads or writes goes through a Location, so code above this layer never asks which storage it is on.
struct Location {
  std::shared_ptr<arrow::fs::FileSystem> fs;
  std::string path;  // in `fs`'s own syntax

  // What users and output rows see: an absolute local path, or the URI (s3://bucket/key).
  std::string uri() const;
  Location child(std::string_view name) const;
  Location parent() const;
  std::string name() const;  // the last path component
};

// A local path (relative paths are made absolute) or a URI such as file:///x. Throws UsageError when the
// string cannot be understood.
Location ResolveLocation(std::string_view uri_or_path);

// The default limit on an input file's size (`orchard run --max-file-bytes`): far above any photo, far below
// the stray video or disk image that would otherwise be loaded whole.
inline constexpr std::int64_t kDefaultMaxFileBytes = std::int64_t{256} << 20;

// A file opened for a whole read, its size known before any byte is read.
struct OpenedFile {
  Location location;
  std::shared_ptr<arrow::io::RandomAccessFile> file;
  std::int64_t size = 0;  // bytes
};

// Whole-file reads. An unreadable local file or a missing object is an InputError (the caller decides whether
// that is fatal); a storage failure that outlasted the retries is an IoError. A `known_size` (from a listing)
// saves an object store the request that would ask for it (else a stat, or a HEAD request). A file of more
// than `max_bytes` is an InputError before anything is read.
// The size rule of OpenForRead: an InputError ("file too large: ...") when `size` bytes exceed `max_bytes`.
void CheckFileSize(std::int64_t size, std::optional<std::int64_t> max_bytes);
OpenedFile OpenForRead(const Location& location, std::optional<std::int64_t> known_size = {},
                       std::optional<std::int64_t> max_bytes = {});
// Reads `opened.size` bytes, never more (a file that grew since is read as it was when opened); a file that
// shrank is an InputError.
std::shared_ptr<arrow::Buffer> ReadWhole(const OpenedFile& opened);
std::shared_ptr<arrow::Buffer> ReadAll(const Location& location, std::optional<std::int64_t> known_size = {},
                                       std::optional<std::int64_t> max_bytes = {});

enum class EntryType { kMissing, kFile, kDirectory };
EntryType GetEntryType(const Location& location);

// Says what is missing when GetEntryType() gave kMissing: "no such file or folder", or on an object store
// whether the bucket itself is missing (the more likely mistake).
std::string DescribeMissing(const Location& location);

}  // namespace orchard

namespace orchard {

// A file being written under a temporary name is `<name>` + this suffix, in the same folder.
inline constexpr std::string_view kTemporarySuffix = ".tmp";

// Writes a whole file so that readers see either its old content or the new one, never a torn file:
// `write` writes the content to the Location it is given, which on a local (or any renaming) file system is
// `<name>.tmp` beside `location`, then renamed over it (rename(2) is atomic within a folder). On an object
// store (S3, GCS) `write` gets `location` itself: an object appears only once its upload completes (a single
// PUT, or a multipart upload's completion), so the write is already atomic and a copy-and-delete "rename"
// would only double the traffic. A crash may leave the temporary file, which the next write replaces. On a
// local file system the file is fsynced before the rename and its folder after, so a file is durable before
// it has its name, and before anything written later (a _SUCCESS listing it) is.
// Throws IoError (or what `write` throws; the temporary file is then removed).
void WriteAtomically(const Location& location, const std::function<void(const Location&)>& write);

// Makes a closed local file durable: fsync(2) of its data, then of its folder (its name). A rename or a
// close alone is not: after a power loss or a kernel crash a file may keep its name but not its blocks, or a
// later file (the _SUCCESS that lists it) may survive while it does not. Every file a job commits is made
// durable before anything that names it is written. Nothing to do on an object store, whose completed
// uploads are durable. Throws IoError naming the path when fsync fails (the data may be lost).
void MakeDurable(const Location& location);

// Writes `text` as the whole content of `location` (small files: manifests, job records), atomically
// (WriteAtomically()). Throws IoError.
void WriteText(const Location& location, const std::string& text);

}  // namespace orchard
