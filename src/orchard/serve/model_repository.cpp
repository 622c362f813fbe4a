#include "orchard/serve/model_repository.h"

#include <arrow/filesystem/filesystem.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

constexpr const char* kManifest = "bundle.json";

// A private folder under the system's temporary folder, removed with everything in it on destruction.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "orchard-bundle-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw IoError("cannot create a temporary folder in " + pattern);
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;  // best effort: a leftover copy must not hide the error being reported
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<arrow::fs::FileInfo> ListFolder(const Location& dir) {
  arrow::fs::FileSelector selector;
  selector.base_dir = dir.path;
  selector.allow_not_found = true;
  return ValueOrThrow(dir.fs->GetFileInfo(selector), dir.uri());
}

bool IsVersionName(const std::string& name) {
  return !name.empty() && name.size() <= 18 && name.front() != '0' &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void CopyFile(const Location& from, const std::filesystem::path& to) {
  std::shared_ptr<arrow::Buffer> bytes;
  try {
    bytes = ReadAll(from);
  } catch (const InputError& e) {
    throw IoError(from.uri() + ": " + e.what());
  }
  std::ofstream out(to, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  if (!out.flush()) throw IoError("cannot write the temporary copy " + to.string());
}

}  // namespace

Bundle LoadBundleFrom(const Location& dir) {
  Bundle bundle = [&] {
    if (dir.fs->type_name() == "local") return Bundle::Load(dir.path);
    TemporaryDirectory copy;
    for (const auto& info : ListFolder(dir)) {
      if (info.IsFile()) CopyFile({dir.fs, info.path()}, copy.path() / info.base_name());
    }
    try {
      return Bundle::Load(copy.path());
    } catch (const IoError& e) {
      // The temporary copy's path means nothing to the user: name the folder they gave.
      std::string message = e.what();
      const std::string local = copy.path().string();
      if (const auto at = message.find(local); at != std::string::npos)
        message.replace(at, local.size(), dir.uri());
      throw IoError(message);
    }
  }();
  const std::string& file = bundle.model.file;
  if (!file.starts_with('/') && file.find("://") == std::string::npos)
    bundle.model.file = dir.child(file).uri();
  return bundle;
}

ModelRepository::ModelRepository(const std::string& root, std::string model_name)
    : model_dir_(ResolveLocation(root).child(model_name)) {}

std::vector<RepositoryVersion> ModelRepository::Versions() const {
  std::vector<std::uint64_t> versions;
  for (const auto& info : ListFolder(model_dir_)) {
    if (info.IsDirectory() && IsVersionName(info.base_name()))
      versions.push_back(std::stoull(info.base_name()));
  }
  std::sort(versions.rbegin(), versions.rend());
  std::vector<RepositoryVersion> complete_versions;
  for (const std::uint64_t version : versions) {
    const auto files = ListFolder(model_dir_.child(std::to_string(version)));
    const bool complete = std::any_of(files.begin(), files.end(), [](const auto& info) {
      return info.IsFile() && info.base_name() == kManifest;
    });
    if (!complete) continue;
    std::string fingerprint;
    for (const auto& info : files) {
      fingerprint += info.base_name() + ":" + std::to_string(info.size()) + ":" +
                     std::to_string(info.mtime().time_since_epoch().count()) + ";";
    }
    complete_versions.push_back({version, std::move(fingerprint)});
  }
  return complete_versions;
}

Bundle ModelRepository::Load(std::uint64_t version) const {
  return LoadBundleFrom(model_dir_.child(std::to_string(version)));
}

}  // namespace orchard
