#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "orchard/common/config.h"
#include "orchard/image/decode.h"
#include "orchard/image/preprocess.h"

namespace orchard {
namespace {

// Regression: DCT-downscaled original-size photos hit scale ratios at which Debian's stb build aborted the
// process (an assertion on filter weights). Every such photo must come through decode + preprocess.
TEST(LargePhotoResizeTest, OriginalSizePhotosSurviveDctScalingAndResize) {
  const auto root = SharedDir() / "data" / "fruits-360-original-size" / "Validation";
  std::vector<std::filesystem::path> photos;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) photos.push_back(entry.path());
  }
  ASSERT_GT(photos.size(), 300u);
  std::sort(photos.begin(), photos.end());
  const PreprocessSpec spec = PreprocessSpec::FromPreset("imagenet");
  std::vector<float> tensor(3 * 224 * 224);
  for (std::size_t i = 0; i < photos.size(); i += 4) {
    std::ifstream in(photos[i], std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    DecodeOptions options;
    options.min_width = spec.width;
    options.min_height = spec.height;
    const Image image = DecodeImage(bytes, options);
    ASSERT_GT(image.width * image.height, 0) << photos[i];
    Preprocess(image, spec, TensorLayout::kNchw, tensor);
    EXPECT_TRUE(std::all_of(tensor.begin(), tensor.end(), [](float v) { return v > -3.0f && v < 3.0f; }))
        << photos[i];
  }
}

}  // namespace
}  // namespace orchard
