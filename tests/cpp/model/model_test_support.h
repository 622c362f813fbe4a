#pragma once

// Paths and small helpers shared by the model tests.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"
#include "orchard/model/embedding_model.h"

namespace orchard::testing {

inline std::filesystem::path RepoDir() { return ORCHARD_SOURCE_DIR; }
inline std::filesystem::path SharedDir() { return RepoDir().parent_path() / "shared"; }
inline std::filesystem::path MobileNetOnnx() { return SharedDir() / "models" / "mobilenetv2-12-int8.onnx"; }
inline std::filesystem::path MobileNetTflite() {
  return SharedDir() / "models" / "mobilenet_v2_1.0_224_quant.tflite";
}
// The first Test image of `label`, in name order, so the choice does not depend on directory order.
inline std::filesystem::path SampleImage(const std::string& label) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(SharedDir() / "data" / "fruits-360-sample" / "Test" / label)) {
    files.push_back(entry.path());
  }
  EXPECT_FALSE(files.empty()) << label;
  return files.empty() ? std::filesystem::path() : *std::min_element(files.begin(), files.end());
}

// ModelOptions with the defaults spelled out (-Wextra warns about designated initializers that skip members).
inline ModelOptions Options(std::filesystem::path path, std::string feature_tensor = {},
                            Precision precision = Precision::kF32, int threads = 0) {
  ModelOptions options;
  options.path = std::move(path);
  options.feature_tensor = std::move(feature_tensor);
  options.precision = precision;
  options.threads = threads;
  return options;
}

// The generated ResNet50 is not in git; make it on first use with the project's script (idempotent).
inline std::filesystem::path ResNet50Onnx() {
  const auto path = RepoDir() / "models-generated" / "resnet50-notop.onnx";
  if (!std::filesystem::exists(path)) {
    const std::string command = (RepoDir() / ".venv" / "bin" / "python").string() + " " +
                                (RepoDir() / "scripts" / "make_resnet50.py").string() + " --output " +
                                path.string();
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  return path;
}

// One image decoded and preprocessed the way the pipeline does, in the model's layout.
inline std::vector<float> LoadInput(const std::filesystem::path& file, const EmbeddingModel& model,
                                    PreprocessSpec spec) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in) << file;
  const std::vector<std::uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  spec.width = model.input_width();
  spec.height = model.input_height();
  std::vector<float> tensor(std::size_t{3} * spec.width * spec.height);
  Preprocess(DecodeImage(bytes), spec, model.input_layout(), tensor);
  return tensor;
}

inline std::vector<float> Embed(EmbeddingModel& model, std::span<const float> batch, std::size_t n) {
  std::vector<float> features(n * model.feature_dim());
  model.Embed(batch, n, features);
  return features;
}

inline double Cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace orchard::testing
