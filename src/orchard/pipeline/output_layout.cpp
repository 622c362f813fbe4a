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

}  // namespace orchard
