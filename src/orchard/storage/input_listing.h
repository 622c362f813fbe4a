#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "orchard/storage/location.h"

namespace orchard {

// One image to process. The label is the name of the folder that holds the file, as in Fruits-360's
// `<root>/[<split>/]<Label>/<file>` layout, unless a manifest line gives one explicitly.
struct InputItem {
  Location location;
  std::string label;
  // The object's size as listed by an object store: reading it then needs no HEAD request first.
  std::optional<std::int64_t> listed_size = {};
  // Set when the listing found an entry that names no input (a manifest line with an empty field): the item
  // is then this error, to be reported as its row (`location` names the manifest and the line).
  std::string listing_error = {};
  // The object's modification time as listed by an object store, milliseconds since the Unix epoch.
  std::optional<std::int64_t> listed_mtime_ms = {};
};

// What identifies an input between runs (`orchard run --incremental`, resume): its bytes' size and
// modification time in milliseconds (the resolution Hadoop's listings, and so the Spark job, have: both
// engines key alike), and the label it is listed under. Replacing a file or object changes its modification
// time (an S3 PUT sets LastModified, at one-second resolution), so a replaced input is featurised again; a
// manifest that files an input under another label (a mislabel fixed after `orchard audit`) makes its row
// anew too. size and mtime_ms are -1 when there is no such file.
struct InputKey {
  std::int64_t size = -1;
  std::int64_t mtime_ms = -1;  // since the Unix epoch
  std::string label;           // as the rows hold it: bytes that are not UTF-8 escaped (EscapeInvalidUtf8)
  bool operator==(const InputKey&) const = default;
};

// The label of a file listed without one (a folder's file, a manifest line without a TAB): the name of the
// folder that holds it.
std::string FolderLabel(const Location& file);

// The key of `item`: from its listing when the listing gave size and time (object stores), else from a stat
// (a local file) or a HEAD request (an object named by a manifest). An item the listing could not use, or a
// missing or unreadable local file, gets the empty key (its error row follows). Throws IoError when an object
// store fails.
InputKey KeyOfInput(const InputItem& item);

// Whether KeyOfInput(item) costs a request to an object store (an object named by a manifest): a caller that
// reads the object anyway asks on a reader thread, where that HEAD also gives the size the read needs.
bool KeyNeedsRequest(const InputItem& item);

// The names both engines skip, in folders and object prefixes: Hadoop's hidden-file rule, which Spark applies
// to every file listing (binaryFile's included) and which cannot be turned off there. A name starting with
// '.' or '_' (but Spark keeps `_metadata*`, `_common_metadata*` and `_key=value`) or ending with `._COPYING_`
// (a file that `hadoop fs -put` is still copying).
bool IsHiddenName(std::string_view name);

// Lists the inputs under `root` and hands each to `callbacks.emit` as it is found:
//  - a folder: every file below it, recursively, in path order (files of any type and name: what is not an
//    image becomes an error row later, so nothing is silently left out), except hidden names (IsHiddenName),
//    files or folders; a symlinked folder is walked once (see on_warning);
//  - a file: a manifest, one path or URI per line, optionally followed by a TAB and a label; relative paths
//    are relative to the manifest's folder; empty lines and lines starting with '#' are ignored; a UTF-8
//    byte-order mark and CRLF line ends are accepted; a line with an empty path or label becomes an item
//    with `listing_error` set.
// Throws IoError when `root` is missing, or a folder below it cannot be listed.
struct ListingCallbacks {
  std::function<bool(InputItem)> emit;  // returns false to stop the listing early
  // Called once, before the first emit, when the number of inputs is known up front (a local folder).
  std::function<void(std::size_t)> on_total = {};
  // Told, once each, of the symlinked folders skipped because their folder is walked already (a symlink
  // loop, or a second link to one folder), so that no image is listed twice.
  std::function<void(const std::string&)> on_warning = {};
};
void ListInputs(const Location& root, const ListingCallbacks& callbacks);

// Throws UsageError when the first 4 KiB of the manifest file `manifest` hold a NUL byte: an image or other
// binary file given where a text manifest belongs, refused before a job starts. ListInputs applies the same
// rule to the whole manifest. An unreadable file: InputError or IoError, as OpenForRead.
void CheckManifestIsText(const Location& manifest);

}  // namespace orchard
