#include "orchard/recognition/bundle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "orchard/common/error.h"
#include "orchard/common/sha256.h"

namespace orchard {
namespace {

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("orchard_bundle_test_" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Bundle MakeBundle() {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::size_t dim = 8, n = 60;
    std::vector<float> features(n * dim);
    for (float& v : features) v = normal(rng);
    CovarianceAccumulator stats(dim);
    stats.AddRows(features, n);
    PcaModel pca = PcaModel::Fit(stats, {.k = 3});
    std::vector<float> projected(n * 3);
    pca.Transform(features, n, projected);
    std::vector<int> classes(n);
    for (std::size_t i = 0; i < n; ++i) classes[i] = projected[i * 3] > 0 ? 1 : 0;
    auto classifier = LogisticClassifier::Train(projected, 3, classes, 2, {});
    ModelReference model{"/models/m.onnx", std::string(64, 'a'), "627", dim, "f32"};
    return Bundle{model,
                  PreprocessSpec::FromPreset("imagenet"),
                  std::move(pca),
                  std::move(classifier),
                  "pca",
                  {"Apple", "Banana"},
                  {{"split", "Training"}},
                  std::nullopt};
  }

  std::filesystem::path dir_;
};

TEST_F(BundleTest, RoundTripKeepsEverythingNeededToPredict) {
  const Bundle bundle = MakeBundle();
  bundle.Save(dir_);
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ / "bundle.json"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ / "pca.parquet"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ / "classifier.liblinear"));

  const Bundle loaded = Bundle::Load(dir_);
  EXPECT_EQ(loaded.model.ToJson(), bundle.model.ToJson());
  EXPECT_EQ(loaded.preprocess.ToJson(), bundle.preprocess.ToJson());
  EXPECT_EQ(loaded.pca.components, bundle.pca.components);
  EXPECT_EQ(loaded.pca.mean, bundle.pca.mean);
  EXPECT_EQ(loaded.labels, bundle.labels);
  EXPECT_EQ(loaded.training, bundle.training);
  EXPECT_EQ(loaded.classifier.Describe(), bundle.classifier.Describe());

  const std::vector<float> row = {0.7f, -0.2f, 0.1f};
  std::vector<float> a(2), b(2);
  bundle.classifier.PredictProbabilities(row, 1, a);
  loaded.classifier.PredictProbabilities(row, 1, b);
  EXPECT_NEAR(a[0], b[0], 1e-6f);
  EXPECT_NEAR(a[1], b[1], 1e-6f);
}

TEST_F(BundleTest, LoadFailsClearlyWhenAFileIsMissingOrInconsistent) {
  EXPECT_THROW(Bundle::Load(dir_), IoError);
  MakeBundle().Save(dir_);
  std::filesystem::remove(dir_ / "classifier.liblinear");
  EXPECT_THROW(Bundle::Load(dir_), IoError);

  MakeBundle().Save(dir_);
  std::ifstream in(dir_ / "bundle.json");
  auto manifest = nlohmann::json::parse(in);
  in.close();
  manifest["labels"] = {"Apple"};  // one label for a two-class classifier
  std::ofstream(dir_ / "bundle.json") << manifest.dump();
  EXPECT_THROW(Bundle::Load(dir_), IoError);
}

TEST_F(BundleTest, OpenVerifiedModelRefusesAChangedFile) {
  std::filesystem::create_directories(dir_);
  const auto file = dir_ / "model.onnx";
  std::ofstream(file) << "not the trained model";
  ModelReference reference{file.string(), std::string(64, '0'), "627", 8, "f32"};
  try {
    OpenVerifiedModel(reference);
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
  reference.file = (dir_ / "missing.onnx").string();
  EXPECT_THROW(OpenVerifiedModel(reference), ModelError);
}

}  // namespace
}  // namespace orchard
