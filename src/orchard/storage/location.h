#pragma once

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>

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

// Whole-file reads. An unreadable local file or a missing object is an InputError (the caller decides whether
// that is fatal); a storage failure that outlasted the retries is an IoError. A `known_size` (from a listing)
// saves an object store the request that would ask for it.
std::shared_ptr<arrow::Buffer> ReadAll(const Location& location, std::optional<std::int64_t> known_size = {});

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
// would only double the traffic. A crash may leave the temporary file, which the next write replaces.
// Throws IoError (or what `write` throws; the temporary file is then removed).
void WriteAtomically(const Location& location, const std::function<void(const Location&)>& write);

// Writes `text` as the whole content of `location` (small files: manifests, job records), atomically
// (WriteAtomically()). Throws IoError.
void WriteText(const Location& location, const std::string& text);

}  // namespace orchard
