#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

struct model;  // liblinear's, kept out of this header

namespace orchard {

// liblinear's two solvers of the same L2-regularised logistic loss (both give probabilities): the primal
// trust-region Newton method and the dual coordinate descent, which is faster on wide features.
enum class LogisticSolver { kPrimal, kDual };

struct ClassifierOptions {
  // Inverse L2 regularisation strength (liblinear's C); `orchard train` chooses it by cross-validation.
  double c = 1.0;
  // Scale each row to unit L2 norm first (before any z-score): the CNN's features differ in overall
  // magnitude between bright and dark photos, and the direction carries the class.
  bool l2_normalize = false;
  // z-score each feature with the training mean and standard deviation. PCA components have variances
  // spanning orders of magnitude; with one C for all weights, standardising lets small components matter.
  bool standardize = true;
  // Weight each class's rows by n / (n_classes * rows of the class), so that small classes count as much.
  bool balanced = false;
  LogisticSolver solver = LogisticSolver::kPrimal;
  double tolerance = 0.01;  // liblinear's stopping criterion (eps)
};

// "primal" | "dual"; throws UsageError naming the choices for anything else.
LogisticSolver ParseLogisticSolver(const std::string& name);
std::string LogisticSolverName(LogisticSolver solver);

// L2-regularised logistic regression from liblinear (L2R_LR or L2R_LR_DUAL): one binary model per class
// (one-vs-rest), whose probabilities liblinear normalises to sum to 1 across classes. Classes are the dense
// indices 0..n_classes-1; names live with the caller (the bundle's labels).
// Predictions are const and thread-safe.
class LogisticClassifier {
 public:
  // `rows`: n row-major vectors of `dim` floats; `classes[i]` in [0, n_classes). Every class must occur.
  // Throws UsageError for inconsistent inputs.
  static LogisticClassifier Train(std::span<const float> rows, std::size_t dim, std::span<const int> classes,
                                  std::size_t n_classes, const ClassifierOptions& options);

  // Reads liblinear's own model file plus the scaler and class mapping written by Describe().
  // Throws IoError when the file is missing or does not match the description, or when its labels are not
  // the distinct classes 0..n_classes-1.
  static LogisticClassifier Load(const std::filesystem::path& model_file, const nlohmann::json& description);

  LogisticClassifier(LogisticClassifier&&) noexcept;
  LogisticClassifier& operator=(LogisticClassifier&&) noexcept;
  ~LogisticClassifier();

  // Writes liblinear's text model file (weights in full precision). Throws IoError.
  void Save(const std::filesystem::path& model_file) const;
  // Everything but the weights: solver, C, dim, class count, the normalisation and standardisation.
  nlohmann::json Describe() const;

  std::size_t dim() const { return dim_; }
  std::size_t n_classes() const { return n_classes_; }

  // Writes n * n_classes() probabilities, row-major, class index order. Throws std::invalid_argument on
  // wrong sizes.
  void PredictProbabilities(std::span<const float> rows, std::size_t n, std::span<float> out) const;

 private:
  struct ModelDeleter {
    void operator()(model* m) const;
  };
  LogisticClassifier() = default;
  // The row as liblinear sees it: L2-normalised and z-scored as trained.
  std::vector<double> Standardized(std::span<const float> row) const;

  std::unique_ptr<model, ModelDeleter> model_;
  std::size_t dim_ = 0;
  std::size_t n_classes_ = 0;
  double c_ = 1.0;
  bool l2_normalize_ = false;
  bool balanced_ = false;       // how it was trained (the weights are not needed to predict)
  std::vector<double> mean_;    // empty: no standardisation
  std::vector<double> scale_;   // 1 / standard deviation (1 for constant features)
  std::vector<int> column_of_;  // liblinear's probability column -> our class index
};

}  // namespace orchard
