#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "orchard/recognition/bundle.h"
#include "orchard/storage/location.h"

namespace orchard {

// Reads a bundle folder from any storage (a local folder, or an s3:// prefix through the AWS default
// credential chain): its files are copied to a private temporary folder, loaded, and the copy removed. A
// relative model file in bundle.json is resolved next to bundle.json, so that a version folder can carry its
// own model ("model.onnx"). Throws IoError (or ModelError) naming the folder's URI.
Bundle LoadBundleFrom(const Location& dir);

// One version folder of a model repository, as seen by a listing.
struct RepositoryVersion {
  std::uint64_t number = 0;
  // The folder's files with their sizes and modification times: a version still being uploaded, or replaced,
  // gets another fingerprint, so a failed load is retried only once the folder changed.
  std::string fingerprint;
};

// A model repository as OpenVINO Model Server and Triton lay it out: ROOT/<model name>/<version>/, each
// version folder a bundle (bundle.json, pca.parquet, classifier.liblinear, optionally the model file), the
// version a positive integer. Only folders holding a bundle.json count (upload it last, as `orchard train`
// writes it).
class ModelRepository {
 public:
  // `root`: a local folder or an s3:// prefix. Throws UsageError when it cannot be resolved.
  ModelRepository(const std::string& root, std::string model_name);

  // The versions holding a bundle.json, highest first (empty when the model's folder has none yet). Throws
  // IoError when the storage cannot be listed.
  std::vector<RepositoryVersion> Versions() const;
  // Loads one version's bundle (LoadBundleFrom()).
  Bundle Load(std::uint64_t version) const;
  // What logs say: "ROOT/NAME".
  std::string uri() const { return model_dir_.uri(); }

 private:
  Location model_dir_;
};

}  // namespace orchard
