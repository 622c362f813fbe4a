#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchard/storage/input_listing.h"
#include "orchard/storage/location.h"

namespace orchard {

// One input of a job as it was listed: its path (as written in the output's rows) and the key of the bytes
// that were featurised (InputKey: size and modification time).
struct InputRecord {
  std::string path;
  InputKey key;
};

// The inputs of a finished job, so that `orchard run --incremental` knows which inputs are unchanged. A
// Parquet file with columns path (string), size (int64, bytes) and mtime_ms (int64, milliseconds since the
// Unix epoch); -1 where the listing had no such file (an input that became an error row). Written atomically;
// throws IoError naming the file.
void WriteInputInventory(std::span<const InputRecord> records, const Location& location);

// Path -> key. Throws IoError naming the file when it cannot be read or has other columns.
std::unordered_map<std::string, InputKey> ReadInputInventory(const Location& location);

}  // namespace orchard
