#pragma once

#include <string>

#include "orchard/model/embedding_model.h"
#include "orchard/storage/location.h"

namespace orchard {

// A compiled model together with the identity of the file it came from, as recorded in outputs and bundles.
struct LoadedModel {
  Location file;
  std::string sha256;
  EmbeddingModel model;
};

// Reads the model file (a local path or a URI), hashes exactly the bytes it compiles, and compiles it.
// With `expected_sha256`, a file whose hash differs is refused before it is compiled.
// Throws ModelError naming the file the user gave.
LoadedModel LoadModel(const ModelOptions& options, const std::string& expected_sha256 = "");

}  // namespace orchard
