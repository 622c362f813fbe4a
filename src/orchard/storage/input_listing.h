#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "orchard/storage/location.h"

namespace orchard {

// One image to process. The label is the name of the folder that holds the file, as in Fruits-360's
// `<root>/[<split>/]<Label>/<file>` layout, unless a manifest line gives one explicitly.
struct InputItem {
  Location location;
  std::string label;
  // The object's size as listed by an object store: reading it then needs no HEAD request first.
  std::optional<std::int64_t> listed_size = {};
};

// Lists the inputs under `root` and hands each to `callbacks.emit` as it is found:
//  - a folder: every regular file below it, recursively, in path order (files of any type: what is not an
//    image becomes an error row later, so nothing is silently left out); hidden entries (".name") are
//    skipped;
//  - a file: a manifest, one path or URI per line, optionally followed by a TAB and a label; relative paths
//    are relative to the manifest's folder; empty lines and lines starting with '#' are ignored.
// Throws IoError when `root` is missing or unreadable.
struct ListingCallbacks {
  std::function<bool(InputItem)> emit;  // returns false to stop the listing early
  // Called once, before the first emit, when the number of inputs is known up front (a local folder).
  std::function<void(std::size_t)> on_total = {};
};
void ListInputs(const Location& root, const ListingCallbacks& callbacks);

}  // namespace orchard
