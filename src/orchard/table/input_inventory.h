#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchard/storage/input_listing.h"
#include "orchard/storage/location.h"

namespace orchard {

// One input of a job as it was listed: its path (as written in the output's rows) and the key of the bytes
// that were featurised and its label (InputKey).
struct InputRecord {
  std::string path;
  InputKey key;
};

// The inputs of a finished job, so that `orchard run --incremental` knows which inputs are unchanged. A
// Parquet file with columns path (string), size (int64, bytes), mtime_ms (int64, milliseconds since the Unix
// epoch) and label (string); -1 where the listing had no such file (an input that became an error row).
// Written atomically; throws IoError naming the file.
void WriteInputInventory(std::span<const InputRecord> records, const Location& location);

// Path -> key. An inventory without the label column (written before 2026-12-03) gives empty labels, so an
// update featurises its inputs again once. Throws IoError naming the file when it cannot be read or a column
// has another type.
std::unordered_map<std::string, InputKey> ReadInputInventory(const Location& location);

}  // namespace orchard
