#include "orchard/pipeline/output_layout.h"

#include <algorithm>
#include <string_view>

#include "orchard/common/error.h"

namespace orchard {

void WriteRunManifest(const OutputLayout& output, const nlohmann::json& manifest) {
  WriteText(output.success(), manifest.dump(2) + "\n");
}

namespace {

bool IsInsideName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view component = name.substr(start, end - start);
    if (component.empty() || component == "." || component == ".." ||
        component.find(':') != std::string_view::npos) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

void CheckListedFiles(const nlohmann::json& manifest, const std::string& source) {
  const auto files = manifest.find("files");
  if (files == manifest.end() || !files->is_object()) return;
  for (const auto& [kind, listed] : files->items()) {
    if (listed.is_null()) continue;
    const auto names = listed.is_array() ? listed : nlohmann::json::array({listed});
    for (const auto& name : names) {
      if (!name.is_string() || !IsInsideName(name.get<std::string>())) {
        throw IoError(source + ": files." + kind + " lists " + name.dump() +
                      ", which is not a file inside the output; refusing the manifest");
      }
    }
  }
}

nlohmann::json ReadRunManifest(const OutputLayout& output) {
  if (GetEntryType(output.success()) != EntryType::kFile) {
    throw IoError(output.root.uri() +
                  " has no _SUCCESS: the run did not finish (or this is not an output of `orchard run`)");
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(ReadAll(output.success())->ToString());
  } catch (const InputError& e) {
    throw IoError(output.success().uri() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw IoError(output.success().uri() + ": " + e.what());
  }
  CheckListedFiles(manifest, output.success().uri());
  return manifest;
}

Location PcaModelFile(const OutputLayout& output, const nlohmann::json& manifest) {
  const auto files = manifest.find("files");
  if (files == manifest.end() || !files->contains("pca") || !files->at("pca").is_string()) {
    throw IoError(output.root.uri() + " has no PCA model (its _SUCCESS lists none)");
  }
  return output.root.child(files->at("pca").get<std::string>());
}

}  // namespace orchard
