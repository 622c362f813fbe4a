#include "manifest.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/pipeline/resume.h"
#include "orchard/pipeline/run_manifest.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace orchard::python {
namespace {

nlohmann::json ParseJson(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(what + ": not JSON (" + e.what() + ")");
  }
}

using PcaTuple = std::tuple<std::size_t, std::size_t, std::int64_t, double>;

std::string Manifest(const std::string& input, std::int64_t written, std::int64_t failed,
                     const std::string& model_file, const std::string& model_sha256,
                     const std::string& feature_tensor, std::size_t feature_dim, const std::string& precision,
                     const std::string& preprocess, std::optional<PcaTuple> pca,
                     const std::string& pca_skipped, std::vector<std::string> features,
                     std::vector<std::string> errors, const std::string& pca_file,
                     const std::string& moments_file, const std::string& inputs_file, int batch_size,
                     int attempt, std::int64_t attempt_images, double wall_seconds,
                     const std::map<std::string, double>& timings,
                     std::optional<std::map<std::string, std::int64_t>> incremental,
                     const std::string& engine) {
  ManifestFacts facts;
  facts.input = input;
  facts.written = written;
  facts.failed = failed;
  facts.model = {model_file, model_sha256, feature_tensor, feature_dim, precision};
  facts.preprocess = ParseJson(preprocess, "run_manifest: preprocess");
  if (pca) facts.pca = PcaFacts{std::get<0>(*pca), std::get<1>(*pca), std::get<2>(*pca), std::get<3>(*pca)};
  facts.pca_skipped = pca_skipped;
  facts.feature_parts = std::move(features);
  facts.error_parts = std::move(errors);
  facts.pca_file = pca_file;
  facts.moments_file = moments_file;
  facts.inputs_file = inputs_file;
  facts.batch_size = batch_size;
  facts.attempt = attempt;
  facts.attempt_images = attempt_images;
  facts.wall_seconds = wall_seconds;
  facts.timings = timings;
  if (incremental) facts.incremental = *incremental;
  facts.engine = ParseJson(engine, "run_manifest: engine");
  return RunManifest(facts).dump(2) + "\n";
}

std::string Identity(const std::string& input, const std::string& model_sha256,
                     const std::string& feature_tensor, const std::string& precision,
                     const std::string& preprocess, std::uint64_t max_pixels, std::int64_t max_file_bytes) {
  return JobIdentity(input, model_sha256, feature_tensor, precision,
                     ParseJson(preprocess, "job_identity: preprocess"), max_pixels, max_file_bytes)
             .dump(2) +
         "\n";
}

void CheckManifest(const std::string& text, const std::string& source) {
  CheckListedFiles(ParseJson(text, source), source);
}

}  // namespace

void BindManifest(nb::module_& m) {
  m.def("run_manifest", &Manifest, nb::kw_only(), "input"_a, "written"_a, "failed"_a, "model_file"_a,
        "model_sha256"_a, "feature_tensor"_a, "feature_dim"_a, "precision"_a, "preprocess"_a, "pca"_a.none(),
        "pca_skipped"_a, "features"_a, "errors"_a, "pca_file"_a, "moments_file"_a, "inputs_file"_a,
        "batch_size"_a, "attempt"_a, "attempt_images"_a, "wall_seconds"_a, "timings"_a,
        "incremental"_a.none(), "engine"_a = "{}",
        "The text of `orchard run`'s _SUCCESS (the same C++ function) for a job's facts: counts written and "
        "failed, the model (sha256, feature tensor and dim, precision) and preprocess (JSON text, "
        "Featurizer.preprocess), pca (k, dim, n_samples, explained variance ratio of the k) or None and then "
        "pca_skipped (why), the files relative to the output root (feature and error parts, PCA model, "
        "moments, input inventory), the attempt's number and images featurised, wall seconds, timings "
        "{stage_seconds: s}, an update's incremental counts or None, and engine: a JSON object of keys only "
        "this engine has. ValueError when engine would replace a key of the schema or a JSON text is bad.");
  m.def("check_listed_files", &CheckManifest, "text"_a, "source"_a,
        "Raises OSError naming `source` unless every file a _SUCCESS (its JSON `text`) lists under \"files\" "
        "is a path inside the output (orchard run's check before it reads or deletes them); ValueError when "
        "`text` is not JSON.");
  m.def(
      "job_identity", &Identity, nb::kw_only(), "input"_a, "model_sha256"_a, "feature_tensor"_a,
      "precision"_a, "preprocess"_a, "max_pixels"_a, "max_file_bytes"_a,
      "The text of `orchard run`'s _job.json (the same C++ function): the settings that decide a job's rows. "
      "`orchard run --incremental` and the Spark job's update refuse an output whose _job.json differs. "
      "feature_tensor as requested ('' for the model's default); preprocess as JSON text.");
}

}  // namespace orchard::python
