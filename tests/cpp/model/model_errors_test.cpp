#include <gtest/gtest.h>

#include <string>

#include "model_test_support.h"
#include "orchard/common/error.h"

namespace orchard {
namespace {

using namespace orchard::testing;

// Runs `make` and returns the ModelError's message; fails the test if nothing (or something else) is thrown.
template <typename Make>
std::string ModelErrorOf(Make make) {
  try {
    make();
  } catch (const ModelError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected ModelError";
  return {};
}

TEST(ModelErrorsTest, MissingFileNamesThePath) {
  const auto path = RepoDir() / "no-such-dir" / "missing-model.onnx";
  const auto message = ModelErrorOf([&] { EmbeddingModel model(Options(path)); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
}

TEST(ModelErrorsTest, UnknownFeatureTensorNamesTheTensorAndThePath) {
  const auto message =
      ModelErrorOf([] { EmbeddingModel model(Options(MobileNetOnnx(), "no_such_tensor_42")); });
  EXPECT_NE(message.find("no_such_tensor_42"), std::string::npos) << message;
  EXPECT_NE(message.find(MobileNetOnnx().string()), std::string::npos) << message;
}

TEST(ModelErrorsTest, AFileThatIsNoModelIsAModelError) {
  const auto path = SharedDir() / "models" / "imagenet_labels.txt";
  const auto message = ModelErrorOf([&] { EmbeddingModel model(Options(path)); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
}

TEST(ModelErrorsTest, UnconvertibleOutputIsAModelError) {
  // The int8 model's own output needs QLinearGlobalAveragePool, which OpenVINO cannot convert.
  const auto message = ModelErrorOf([] { EmbeddingModel model(Options(MobileNetOnnx(), "output")); });
  EXPECT_NE(message.find(MobileNetOnnx().string()), std::string::npos) << message;
}

TEST(ModelErrorsTest, InnerTensorBehindAnUnconvertibleOpIsAModelError) {
  // "464_quantized" comes out of com.microsoft.QLinearGlobalAveragePool, which no translator handles.
  const auto message = ModelErrorOf([] { EmbeddingModel model(Options(MobileNetOnnx(), "464_quantized")); });
  EXPECT_NE(message.find(MobileNetOnnx().string()), std::string::npos) << message;
  EXPECT_NE(message.find("QLinearGlobalAveragePool"), std::string::npos) << message;
}

}  // namespace
}  // namespace orchard
