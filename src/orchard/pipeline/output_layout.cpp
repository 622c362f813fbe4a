#include "orchard/pipeline/output_layout.h"

#include "orchard/common/error.h"

namespace orchard {

void WriteRunManifest(const OutputLayout& output, const nlohmann::json& manifest) {
  WriteText(output.success(), manifest.dump(2) + "\n");
}

nlohmann::json ReadRunManifest(const OutputLayout& output) {
  if (GetEntryType(output.success()) != EntryType::kFile) {
    throw IoError(output.root.uri() +
                  " has no _SUCCESS: the run did not finish (or this is not an output of `orchard run`)");
  }
  try {
    return nlohmann::json::parse(ReadAll(output.success())->ToString());
  } catch (const InputError& e) {
    throw IoError(output.success().uri() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw IoError(output.success().uri() + ": " + e.what());
  }
}

Location PcaModelFile(const OutputLayout& output, const nlohmann::json& manifest) {
  const auto files = manifest.find("files");
  if (files == manifest.end() || !files->contains("pca") || !files->at("pca").is_string()) {
    throw IoError(output.root.uri() + " has no PCA model (its _SUCCESS lists none)");
  }
  return output.root.child(files->at("pca").get<std::string>());
}

}  // namespace orchard
