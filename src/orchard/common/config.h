#pragma once

#include <filesystem>

namespace orchard {

// The folder with the sample data and models: $ORCHARD_SHARED when set, else the `shared/` folder beside the
// source checkout this binary was built from (the project's "../shared").
std::filesystem::path SharedDir();

// The embedded default model: ImageNet MobileNetV2, int8, from the ONNX model zoo (see shared/README.md).
std::filesystem::path DefaultModelPath();

}  // namespace orchard
