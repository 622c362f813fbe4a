#include "orchard/pipeline/run_manifest.h"

#include "orchard/common/error.h"

namespace orchard {
namespace {

nlohmann::json PcaJson(const ManifestFacts& facts) {
  if (!facts.pca) return {{"skipped", facts.pca_skipped}, {"k", 0}};
  return {{"file", facts.pca_file},
          {"k", facts.pca->k},
          {"dim", facts.pca->dim},
          {"n_samples", facts.pca->n_samples},
          {"explained_variance_ratio", facts.pca->explained_variance_ratio}};
}

// Adds an engine's own keys; a key of the common schema is never replaced, so both engines' manifests
// read the same.
void MergeEngineKeys(nlohmann::json& into, const nlohmann::json& keys, const std::string& where) {
  if (keys.is_null()) return;
  if (!keys.is_object()) throw UsageError("manifest: engine keys of " + where + " must be an object");
  for (const auto& [key, value] : keys.items()) {
    if (into.contains(key)) {
      throw UsageError("manifest: engine key '" + key + "' would replace " + where + "'s key of that name");
    }
    into[key] = value;
  }
}

}  // namespace

nlohmann::json RunManifest(const ManifestFacts& facts) {
  const std::int64_t seen = facts.written + facts.failed;
  nlohmann::json model = {{"file", facts.model.file},
                          {"sha256", facts.model.sha256},
                          {"feature_tensor", facts.model.feature_tensor},
                          {"feature_dim", facts.model.feature_dim},
                          {"precision", facts.model.precision}};
  MergeEngineKeys(model, facts.model_engine, "model");
  nlohmann::json manifest = {
      {"orchard_version", ORCHARD_VERSION},
      {"input", facts.input},
      {"counts", {{"seen", seen}, {"written", facts.written}, {"failed", facts.failed}}},
      {"model", std::move(model)},
      {"preprocess", facts.preprocess},
      {"pca", PcaJson(facts)},
      {"files",
       {{"features", facts.feature_parts},
        {"errors", facts.error_parts},
        {"pca", facts.pca ? nlohmann::json(facts.pca_file) : nlohmann::json()},
        {"pca_moments", facts.moments_file},
        {"inputs", facts.inputs_file}}},
      {"batch_size", facts.batch_size},
      {"wall_seconds", facts.wall_seconds},
      {"attempt", {{"number", facts.attempt}, {"images", facts.attempt_images}}},
      {"images_per_second",
       facts.wall_seconds > 0 ? static_cast<double>(facts.attempt_images) / facts.wall_seconds : 0.0},
      {"timings", facts.timings}};
  if (!facts.incremental.is_null()) manifest["incremental"] = facts.incremental;
  MergeEngineKeys(manifest, facts.engine, "the manifest");
  return manifest;
}

}  // namespace orchard
