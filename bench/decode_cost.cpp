// Single-thread cost of orchard's decode and preprocess per image, to tell whether large JPEGs are
// decode-bound. Built with the project (target orchard_decode_cost):
//
//   find ../shared/data/fruits-360-original-size/Validation -name '*.jpg' | build/orchard_decode_cost
//   [preset]
//
// Prints ms/image for decode and for preprocess (resize + normalise), once as the pipeline decodes
// (DecodeOptionsFor: JPEG DCT scaling down to the input size) and once at full size, for comparison.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRepetitions = 3;  // the files stay in memory: only decode and preprocess are timed

std::vector<std::vector<std::uint8_t>> ReadFilesListedOnStdin() {
  std::vector<std::vector<std::uint8_t>> files;
  for (std::string path; std::getline(std::cin, path);) {
    std::ifstream file(path, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  return files;
}

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

void Measure(const char* label, const std::vector<std::vector<std::uint8_t>>& files,
             const orchard::PreprocessSpec& spec, const orchard::DecodeOptions& options) {
  std::vector<float> input(std::size_t{3} * spec.width * spec.height);
  double decode = 0, preprocess = 0, pixels = 0;
  for (int repetition = 0; repetition < kRepetitions; ++repetition) {
    for (const auto& bytes : files) {
      const auto start = Clock::now();
      const auto image = orchard::DecodeImage(bytes, options);
      const auto decoded = Clock::now();
      orchard::Preprocess(image, spec, orchard::TensorLayout::kNchw, input);
      preprocess += Seconds(decoded, Clock::now());
      decode += Seconds(start, decoded);
      pixels += double(image.width) * image.height;
    }
  }
  const double n = double(kRepetitions) * files.size();
  std::printf(
      "%-9s %zu files, decoded %.0f px/image: decode %.3f ms, preprocess %.3f ms, total %.3f ms/image "
      "(%.0f images/s per core)\n",
      label, files.size(), pixels / n, 1e3 * decode / n, 1e3 * preprocess / n,
      1e3 * (decode + preprocess) / n, n / (decode + preprocess));
}

}  // namespace

int main(int argc, char** argv) {
  const auto spec = orchard::PreprocessSpec::FromPreset(argc > 1 ? argv[1] : "imagenet");
  const auto files = ReadFilesListedOnStdin();
  if (files.empty()) {
    std::fprintf(stderr, "decode_cost: list image files on stdin\n");
    return 2;
  }
  Measure("pipeline", files, spec, orchard::DecodeOptionsFor(spec, 100'000'000));
  Measure("full-size", files, spec, orchard::DecodeOptions{});
  return 0;
}
