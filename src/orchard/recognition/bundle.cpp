#include "orchard/recognition/bundle.h"

#include <arrow/filesystem/localfs.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "orchard/common/error.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/storage/location.h"
#include "orchard/table/pca_model_file.h"

namespace orchard {
namespace {

constexpr const char* kManifest = "bundle.json";
constexpr const char* kPcaFile = "pca.parquet";
constexpr const char* kClassifierFile = "classifier.liblinear";
constexpr const char* kOpenSetFile = "open_set.parquet";

std::shared_ptr<arrow::fs::FileSystem> LocalFs() { return std::make_shared<arrow::fs::LocalFileSystem>(); }

nlohmann::json ReadJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string() + ": no such file (is this a bundle written by `orchard train`?)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path.string() + ": not valid JSON: " + e.what());
  }
}

}  // namespace

ModelReference ModelReference::FromJson(const nlohmann::json& json) {
  ModelReference ref;
  ref.file = json.at("file").get<std::string>();
  ref.sha256 = json.at("sha256").get<std::string>();
  ref.feature_tensor = json.at("feature_tensor").get<std::string>();
  ref.feature_dim = json.at("feature_dim").get<std::size_t>();
  ref.precision = json.at("precision").get<std::string>();
  return ref;
}

nlohmann::json ModelReference::ToJson() const {
  return {{"file", file},
          {"sha256", sha256},
          {"feature_tensor", feature_tensor},
          {"feature_dim", feature_dim},
          {"precision", precision}};
}

namespace {

// Whether `file` is a bundle.json orchard wrote: JSON holding format_version and orchard_version.
bool IsBundleManifest(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("format_version") && json.contains("orchard_version");
}

// Why `entry` of a folder about to take a bundle keeps it from doing so; empty when it may stay: a bundle's
// file (replaced by a rename, a symbolic link too), an earlier write's temporary name (written through, so a
// regular file only), or a hidden name (.DS_Store), which a bundle never touches.
std::string EntryProblem(const std::filesystem::directory_entry& entry) {
  static const std::set<std::string> kFiles = {kManifest, kPcaFile, kClassifierFile, kOpenSetFile};
  const std::string name = entry.path().filename().string();
  if (name.starts_with(".")) return "";
  std::error_code error;
  const auto status = entry.symlink_status(error);
  const bool temporary = name.ends_with(kTemporarySuffix);
  const std::string file = temporary ? name.substr(0, name.size() - kTemporarySuffix.size()) : name;
  if (!kFiles.contains(file)) return name + ", which is not a bundle's file";
  if (std::filesystem::is_directory(status)) return name + ", a folder";
  if (temporary && !std::filesystem::is_regular_file(status))
    return name + ", which is no file orchard left (a write would go through it)";
  if (name == kManifest && !IsBundleManifest(entry.path()))
    return name + ", which is not an orchard bundle's";
  return "";
}

}  // namespace

void Bundle::CheckFolder(const std::filesystem::path& dir) {
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) return;
  if (!std::filesystem::is_directory(dir, error))
    throw UsageError(dir.string() +
                     " is not a folder: the bundle is a folder (bundle.json, pca.parquet, ...)");
  std::filesystem::directory_iterator entries(dir, error);
  if (error) throw IoError(dir.string() + ": cannot list the bundle folder: " + error.message());
  std::vector<std::filesystem::directory_entry> sorted(entries, {});
  std::ranges::sort(sorted);
  bool manifest = false;
  std::string first;
  for (const auto& entry : sorted) {
    const std::string problem = EntryProblem(entry);
    if (!problem.empty())
      throw UsageError(dir.string() + " holds " + problem +
                       ": a bundle goes to a new or empty folder, or replaces a bundle; nothing was written");
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;
    manifest = manifest || name == kManifest;
    if (first.empty()) first = name;
  }
  if (!first.empty() && !manifest)
    throw UsageError(dir.string() + " holds " + first +
                     " but no bundle.json: names alone do not show orchard wrote them; nothing was written");
}

void Bundle::Save(const std::filesystem::path& dir) const {
  CheckFolder(dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw IoError(dir.string() + ": " + error.message());
  const auto absolute = std::filesystem::absolute(dir);
  WritePcaModel(pca, LocalFs(), (absolute / kPcaFile).string());
  // Each file is replaced atomically (WriteAtomically()), so a crash never leaves a torn one.
  WriteAtomically(ResolveLocation((absolute / kClassifierFile).string()),
                  [&](const Location& target) { classifier.Save(target.path); });
  nlohmann::json manifest = {
      {"format_version", kFormatVersion},
      {"orchard_version", ORCHARD_VERSION},
      {"model", model.ToJson()},
      {"preprocess", preprocess.ToJson()},
      {"pca", {{"file", kPcaFile}, {"k", pca.k()}, {"dim", pca.dim()}}},
      {"classifier",
       {{"file", kClassifierFile}, {"input", classifier_input}, {"description", classifier.Describe()}}},
      {"labels", labels},
      {"training", training}};
  if (open_set) {
    WritePcaModel(open_set->whitening(), LocalFs(), (absolute / kOpenSetFile).string());
    manifest["open_set"] = {{"file", kOpenSetFile}, {"description", open_set->Describe()}};
  } else {
    std::filesystem::remove(absolute / kOpenSetFile, error);  // a stale detector of an earlier bundle
  }
  WriteText(ResolveLocation((absolute / kManifest).string()), manifest.dump(2) + "\n");
}

Bundle Bundle::Load(const std::filesystem::path& dir) {
  const auto absolute = std::filesystem::absolute(dir);
  const auto manifest_path = absolute / kManifest;
  const nlohmann::json manifest = ReadJsonFile(manifest_path);
  try {
    const int version = manifest.at("format_version").get<int>();
    if (version < 1 || version > kFormatVersion) {
      throw IoError(manifest_path.string() + ": unsupported bundle format version " +
                    manifest.at("format_version").dump());
    }
    Bundle bundle{
        ModelReference::FromJson(manifest.at("model")),
        PreprocessSpec::FromJson(manifest.at("preprocess")),
        ReadPcaModel(LocalFs(), (absolute / manifest.at("pca").at("file").get<std::string>()).string()),
        LogisticClassifier::Load(absolute / manifest.at("classifier").at("file").get<std::string>(),
                                 manifest.at("classifier").at("description")),
        manifest.at("classifier").value("input", "pca"),  // bundles before the features input
        manifest.at("labels").get<std::vector<std::string>>(),
        manifest.value("training", nlohmann::json::object()),
        std::nullopt};
    if (manifest.contains("open_set")) {
      const auto& open_set = manifest.at("open_set");
      bundle.open_set = OpenSetDetector::FromParts(
          ReadPcaModel(LocalFs(), (absolute / open_set.at("file").get<std::string>()).string()),
          open_set.at("description"));
      if (bundle.open_set->dim() != bundle.model.feature_dim ||
          bundle.open_set->n_classes() != bundle.labels.size())
        throw IoError(manifest_path.string() + ": the open-set detector does not fit the model and labels");
    }
    const bool features_input = bundle.classifier_input == "features";
    if (!features_input && bundle.classifier_input != "pca") {
      throw IoError(manifest_path.string() + ": unknown classifier input '" + bundle.classifier_input + "'");
    }
    if (bundle.pca.dim() != bundle.model.feature_dim ||
        bundle.classifier.dim() != (features_input ? bundle.pca.dim() : bundle.pca.k()) ||
        bundle.classifier.n_classes() != bundle.labels.size()) {
      throw IoError(manifest_path.string() + ": the model, PCA, classifier and labels do not fit together");
    }
    return bundle;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(manifest_path.string() + ": " + e.what());
  } catch (const UsageError& e) {  // PreprocessSpec::FromJson's complaints
    throw IoError(manifest_path.string() + ": " + e.what());
  }
}

void Bundle::PredictProbabilities(std::span<const float> features, std::span<const float> projected,
                                  std::size_t n, std::span<float> out) const {
  classifier.PredictProbabilities(classifier_input == "features" ? features : projected, n, out);
}

EmbeddingModel OpenVerifiedModel(const ModelReference& reference, int threads, std::size_t batch_size,
                                 std::vector<std::size_t> extra_batches) {
  ModelOptions options;
  options.path = reference.file;
  options.feature_tensor = reference.feature_tensor;
  options.precision = ParsePrecision(reference.precision);
  options.threads = threads;
  options.batch_size = batch_size;  // features do not depend on the batch
  options.extra_batches = std::move(extra_batches);
  LoadedModel loaded = LoadModel(options, reference.sha256);
  const std::string where = "the bundle's model " + loaded.file.uri();
  if (loaded.model.feature_dim() != reference.feature_dim) {
    throw ModelError(where + " gives " + std::to_string(loaded.model.feature_dim()) +
                     "-d features, the bundle expects " + std::to_string(reference.feature_dim));
  }
  return std::move(loaded.model);
}

}  // namespace orchard
