#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orchard/storage/location.h"

namespace orchard {

// The folder `orchard run` writes (README, "Output format"). `_SUCCESS` is written last: a reader that
// finds it knows every file it lists is complete. Until then `_job.json` identifies the job and `_staging/`
// holds its features without the PCA, so that an interrupted job can be resumed (resume.h).
struct OutputLayout {
  Location root;

  Location features() const { return root.child("features"); }
  Location errors() const { return root.child("errors"); }
  Location staging() const { return root.child("_staging"); }
  Location success() const { return root.child("_SUCCESS"); }
  Location job() const { return root.child("_job.json"); }
  Location index() const { return root.child("index.faiss"); }  // written by `orchard index`
  Location index_keys() const { return root.child("index_keys.parquet"); }
};

// The one writer of _SUCCESS (`orchard run` at the end of a job, `orchard index` when it adds the index):
// the whole manifest, atomically (WriteText()). Throws IoError.
void WriteRunManifest(const OutputLayout& output, const nlohmann::json& manifest);

// The output's _SUCCESS manifest. Throws IoError when the job did not finish (no _SUCCESS), it is
// unreadable, or CheckListedFiles refuses it.
nlohmann::json ReadRunManifest(const OutputLayout& output);

// Throws IoError naming `source` (the manifest's URI) unless every file the manifest lists under "files" is a
// path inside the output: relative, its components neither empty, "." nor "..". Readers read those files
// and an update deletes the ones it replaces, so an edited or forged _SUCCESS naming "../x" must not reach
// anything outside the output.
void CheckListedFiles(const nlohmann::json& manifest, const std::string& source);

// The PCA model file `manifest` (ReadRunManifest()) lists: pca.parquet, or an incremental run's
// pca-aNNN.parquet. Throws IoError when the job has none (too few rows for a PCA, `pca.skipped`).
Location PcaModelFile(const OutputLayout& output, const nlohmann::json& manifest);

}  // namespace orchard
