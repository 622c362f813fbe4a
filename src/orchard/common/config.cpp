#include "orchard/common/config.h"

#include <cstdlib>

namespace orchard {

std::filesystem::path SharedDir() {
  if (const char* shared = std::getenv("ORCHARD_SHARED"); shared && *shared) return shared;
  return std::filesystem::path(ORCHARD_SOURCE_DIR).parent_path() / "shared";
}

std::filesystem::path DefaultModelPath() { return SharedDir() / "models" / "mobilenetv2-12-int8.onnx"; }

}  // namespace orchard
