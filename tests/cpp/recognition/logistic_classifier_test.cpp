#include "orchard/recognition/logistic_classifier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "orchard/common/error.h"

namespace orchard {
namespace {

// `per_class` points around a distinct centre per class, far apart relative to the spread: linearly
// separable.
struct Blobs {
  std::vector<float> rows;
  std::vector<int> classes;
};

Blobs MakeBlobs(std::size_t n_classes, std::size_t per_class, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  Blobs blobs;
  for (std::size_t c = 0; c < n_classes; ++c) {
    for (std::size_t i = 0; i < per_class; ++i) {
      for (std::size_t j = 0; j < dim; ++j) {
        // Class c sits at +5 on axis c (mod dim) and at a per-class offset on the others; plus a large common
        // offset and scale differences that standardisation has to remove.
        const float centre = (j == c % dim ? 5.0f : 0.0f) + (j == 0 ? 0.5f * static_cast<float>(c) : 0.0f);
        blobs.rows.push_back(100.0f + static_cast<float>(j + 1) * (centre + noise(rng)));
      }
      blobs.classes.push_back(static_cast<int>(c));
    }
  }
  return blobs;
}

std::size_t Argmax(std::span<const float> row) {
  return static_cast<std::size_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

TEST(LogisticClassifierTest, SeparatesSeparableClassesAndProbabilitiesSumToOne) {
  const std::size_t classes = 4, dim = 6;
  const Blobs train = MakeBlobs(classes, 50, dim, 1);
  const auto model = LogisticClassifier::Train(train.rows, dim, train.classes, classes, {});
  EXPECT_EQ(model.dim(), dim);
  EXPECT_EQ(model.n_classes(), classes);

  const Blobs test = MakeBlobs(classes, 30, dim, 2);
  const std::size_t n = test.classes.size();
  std::vector<float> probabilities(n * classes);
  model.PredictProbabilities(test.rows, n, probabilities);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = std::span<const float>(probabilities).subspan(i * classes, classes);
    EXPECT_NEAR(std::accumulate(row.begin(), row.end(), 0.0), 1.0, 1e-5);
    for (const float p : row) EXPECT_TRUE(p >= 0.0f && p <= 1.0f);
    hits += Argmax(row) == static_cast<std::size_t>(test.classes[i]);
  }
  EXPECT_EQ(hits, n);
}

TEST(LogisticClassifierTest, ClassOrderDoesNotDependOnRowOrder) {
  // liblinear numbers classes by first appearance; the mapping back must make that invisible.
  const std::size_t classes = 3, dim = 3;
  Blobs train = MakeBlobs(classes, 20, dim, 3);
  std::reverse(train.classes.begin(), train.classes.end());
  std::vector<float> reversed;
  for (std::size_t i = train.classes.size(); i-- > 0;) {
    reversed.insert(reversed.end(), train.rows.begin() + i * dim, train.rows.begin() + (i + 1) * dim);
  }
  const auto model = LogisticClassifier::Train(reversed, dim, train.classes, classes, {});
  const Blobs test = MakeBlobs(classes, 5, dim, 4);
  std::vector<float> probabilities(test.classes.size() * classes);
  model.PredictProbabilities(test.rows, test.classes.size(), probabilities);
  for (std::size_t i = 0; i < test.classes.size(); ++i) {
    EXPECT_EQ(Argmax(std::span<const float>(probabilities).subspan(i * classes, classes)),
              static_cast<std::size_t>(test.classes[i]));
  }
}

TEST(LogisticClassifierTest, SaveLoadGivesTheSameProbabilities) {
  const std::size_t classes = 3, dim = 4;
  const Blobs train = MakeBlobs(classes, 20, dim, 5);
  const auto model = LogisticClassifier::Train(train.rows, dim, train.classes, classes, {.c = 0.5});
  const auto file = std::filesystem::temp_directory_path() /
                    ("orchard_classifier_" + std::to_string(std::random_device{}()));
  model.Save(file);
  const auto loaded = LogisticClassifier::Load(file, model.Describe());
  std::filesystem::remove(file);

  std::vector<float> a(train.classes.size() * classes), b(a.size());
  model.PredictProbabilities(train.rows, train.classes.size(), a);
  loaded.PredictProbabilities(train.rows, train.classes.size(), b);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f) << i;
  EXPECT_EQ(loaded.Describe(), model.Describe());
}

// The dual solver, L2-normalised rows and balanced weights: recorded, and a saved model predicts the same
// (the row scaling is part of the description, not of liblinear's file).
TEST(LogisticClassifierTest, DualSolverL2NormalisedBalancedRoundTrips) {
  const Blobs train = MakeBlobs(3, 20, 4, 11);
  ClassifierOptions options;
  options.solver = LogisticSolver::kDual;
  options.l2_normalize = true;
  options.balanced = true;
  const auto model = LogisticClassifier::Train(train.rows, 4, train.classes, 3, options);
  const auto description = model.Describe();
  EXPECT_EQ(description["solver"], "dual");
  EXPECT_EQ(description["l2_normalize"], true);
  EXPECT_EQ(description["balanced"], true);
  const auto file = std::filesystem::temp_directory_path() /
                    ("orchard_classifier_" + std::to_string(std::random_device{}()));
  model.Save(file);
  const auto loaded = LogisticClassifier::Load(file, description);
  std::filesystem::remove(file);
  std::vector<float> a(train.classes.size() * 3), b(a.size());
  model.PredictProbabilities(train.rows, train.classes.size(), a);
  loaded.PredictProbabilities(train.rows, train.classes.size(), b);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f) << i;
  // Scaling a row does not change an L2-normalised classifier's answer.
  std::vector<float> doubled(train.rows.begin(), train.rows.begin() + 4), once(3), twice(3);
  model.PredictProbabilities(std::span<const float>(train.rows).subspan(0, 4), 1, once);
  for (float& v : doubled) v *= 2.0f;
  model.PredictProbabilities(doubled, 1, twice);
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(once[c], twice[c], 1e-6f);
  EXPECT_THROW(ParseLogisticSolver("newton"), UsageError);
}

TEST(LogisticClassifierTest, RefusesInconsistentInputs) {
  const std::vector<float> rows = {1, 2, 3, 4};
  const std::vector<int> classes = {0, 0};
  EXPECT_THROW(LogisticClassifier::Train(rows, 2, classes, 2, {}), UsageError);  // class 1 has no rows
  const std::vector<int> out_of_range = {0, 2};
  EXPECT_THROW(LogisticClassifier::Train(rows, 2, out_of_range, 2, {}), UsageError);
  EXPECT_THROW(LogisticClassifier::Train(rows, 3, classes, 1, {}), UsageError);  // 4 values are not 2 x 3
}

TEST(LogisticClassifierTest, LoadRefusesAMissingOrMismatchedFile) {
  EXPECT_THROW(LogisticClassifier::Load("/nonexistent/classifier", nlohmann::json::object()), IoError);
  const Blobs train = MakeBlobs(2, 10, 2, 6);
  const auto model = LogisticClassifier::Train(train.rows, 2, train.classes, 2, {});
  const auto file = std::filesystem::temp_directory_path() /
                    ("orchard_classifier_" + std::to_string(std::random_device{}()));
  model.Save(file);
  auto wrong = model.Describe();
  wrong["dim"] = 3;
  EXPECT_THROW(LogisticClassifier::Load(file, wrong), IoError);
  std::filesystem::remove(file);
}

// Issue 14: liblinear's "label" line indexes the probability rows; a damaged file with a label outside
// 0..n_classes-1 (or a repeated one) made PredictProbabilities write out of bounds.
TEST(LogisticClassifierTest, LoadRefusesLabelsOutOfBoundsInACorruptFile) {
  const Blobs train = MakeBlobs(3, 10, 2, 7);
  const auto model = LogisticClassifier::Train(train.rows, 2, train.classes, 3, {});
  const auto file = std::filesystem::temp_directory_path() /
                    ("orchard_classifier_" + std::to_string(std::random_device{}()));
  model.Save(file);
  std::stringstream original;
  original << std::ifstream(file).rdbuf();
  const std::string text = original.str();
  const auto start = text.find("\nlabel ");
  ASSERT_NE(start, std::string::npos);
  const auto end = text.find('\n', start + 1);
  for (const std::string labels : {"label 0 1 7", "label 0 -1 2", "label 0 1 1"}) {
    std::ofstream(file, std::ios::trunc) << text.substr(0, start + 1) << labels << text.substr(end);
    EXPECT_THROW(LogisticClassifier::Load(file, model.Describe()), IoError) << labels;
  }
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace orchard
