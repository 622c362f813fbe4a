#include "orchard/recognition/logistic_classifier.h"

#include <linear.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "orchard/common/error.h"

namespace orchard {
namespace {

constexpr const char* kKind = "liblinear logistic regression one-vs-rest";

// liblinear prints its iterations to stdout, which belongs to the commands' JSON output.
void Quiet(const char*) {}

// One row as liblinear's sparse vector: every feature (dense), then the bias term, then the terminator.
void FillNodes(std::span<const double> values, std::span<feature_node> nodes) {
  for (std::size_t j = 0; j < values.size(); ++j) nodes[j] = {static_cast<int>(j + 1), values[j]};
  nodes[values.size()] = {static_cast<int>(values.size() + 1), 1.0};
  nodes[values.size() + 1] = {-1, 0.0};
}

// 1 / the row's L2 norm when `l2_normalize`, else 1 (and 1 for an all-zero row, which stays zero).
double RowFactor(std::span<const float> row, bool l2_normalize) {
  if (!l2_normalize) return 1.0;
  double squares = 0.0;
  for (const float x : row) squares += static_cast<double>(x) * x;
  return squares > 0.0 ? 1.0 / std::sqrt(squares) : 1.0;
}

void FitScaler(std::span<const float> rows, std::size_t dim, bool l2_normalize, std::vector<double>& mean,
               std::vector<double>& scale) {
  const std::size_t n = rows.size() / dim;
  mean.assign(dim, 0.0);
  std::vector<double> m2(dim, 0.0);
  for (std::size_t i = 0; i < n; ++i) {  // Welford: one pass, no cancellation
    const double factor = RowFactor(rows.subspan(i * dim, dim), l2_normalize);
    for (std::size_t j = 0; j < dim; ++j) {
      const double x = rows[i * dim + j] * factor;
      const double delta = x - mean[j];
      mean[j] += delta / static_cast<double>(i + 1);
      m2[j] += delta * (x - mean[j]);
    }
  }
  scale.resize(dim);
  for (std::size_t j = 0; j < dim; ++j) {
    const double sd = std::sqrt(m2[j] / static_cast<double>(n));
    scale[j] = sd > 0.0 ? 1.0 / sd : 1.0;
  }
}

std::vector<double> JsonDoubles(const nlohmann::json& json, const char* key) {
  if (!json.contains(key)) return {};
  return json.at(key).get<std::vector<double>>();
}

}  // namespace

LogisticSolver ParseLogisticSolver(const std::string& name) {
  if (name == "primal") return LogisticSolver::kPrimal;
  if (name == "dual") return LogisticSolver::kDual;
  throw UsageError("unknown solver '" + name + "': the solvers are primal and dual");
}

std::string LogisticSolverName(LogisticSolver solver) {
  return solver == LogisticSolver::kDual ? "dual" : "primal";
}

void LogisticClassifier::ModelDeleter::operator()(model* m) const { free_and_destroy_model(&m); }

LogisticClassifier::LogisticClassifier(LogisticClassifier&&) noexcept = default;
LogisticClassifier& LogisticClassifier::operator=(LogisticClassifier&&) noexcept = default;
LogisticClassifier::~LogisticClassifier() = default;

LogisticClassifier LogisticClassifier::Train(std::span<const float> rows, std::size_t dim,
                                             std::span<const int> classes, std::size_t n_classes,
                                             const ClassifierOptions& options) {
  const std::size_t n = classes.size();
  if (dim == 0 || n == 0 || rows.size() != n * dim) {
    throw UsageError("classifier: need n * dim feature values for n > 0 labelled rows");
  }
  std::vector<int> seen(n_classes, 0);
  for (const int c : classes) {
    if (c < 0 || static_cast<std::size_t>(c) >= n_classes) throw UsageError("classifier: class out of range");
    ++seen[c];
  }
  for (std::size_t c = 0; c < n_classes; ++c) {
    if (!seen[c]) throw UsageError("classifier: class " + std::to_string(c) + " has no training rows");
  }

  LogisticClassifier result;
  result.dim_ = dim;
  result.n_classes_ = n_classes;
  result.c_ = options.c;
  result.l2_normalize_ = options.l2_normalize;
  result.balanced_ = options.balanced;
  if (options.standardize) FitScaler(rows, dim, options.l2_normalize, result.mean_, result.scale_);

  std::vector<feature_node> nodes(n * (dim + 2));
  std::vector<feature_node*> x(n);
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = nodes.data() + i * (dim + 2);
    FillNodes(result.Standardized(rows.subspan(i * dim, dim)), {x[i], dim + 2});
    y[i] = classes[i];
  }
  problem prob{static_cast<int>(n), static_cast<int>(dim + 1), y.data(), x.data(), 1.0};
  parameter param{};
  param.solver_type = options.solver == LogisticSolver::kDual ? L2R_LR_DUAL : L2R_LR;
  param.eps = options.tolerance;
  param.C = options.c;
  std::vector<int> weight_label;
  std::vector<double> weight;
  if (options.balanced) {
    for (std::size_t c = 0; c < n_classes; ++c) {
      weight_label.push_back(static_cast<int>(c));
      weight.push_back(static_cast<double>(n) / static_cast<double>(n_classes * seen[c]));
    }
    param.nr_weight = static_cast<int>(n_classes);
    param.weight_label = weight_label.data();
    param.weight = weight.data();
  }
  if (const char* error = check_parameter(&prob, &param))
    throw UsageError(std::string("classifier: ") + error);
  set_print_string_function(&Quiet);
  result.model_.reset(train(&prob, &param));
  // liblinear orders its classes by first appearance; map its probability columns back to class indices.
  for (std::size_t j = 0; j < n_classes; ++j) result.column_of_.push_back(result.model_->label[j]);
  return result;
}

LogisticClassifier LogisticClassifier::Load(const std::filesystem::path& model_file,
                                            const nlohmann::json& description) {
  if (!std::filesystem::is_regular_file(model_file)) throw IoError(model_file.string() + ": no such file");
  LogisticClassifier result;
  result.model_.reset(load_model(model_file.c_str()));
  if (!result.model_) throw IoError(model_file.string() + ": not a liblinear model file");
  try {
    result.dim_ = description.at("dim").get<std::size_t>();
    result.n_classes_ = description.at("n_classes").get<std::size_t>();
    result.c_ = description.at("c").get<double>();
    result.l2_normalize_ = description.value("l2_normalize", false);
    result.balanced_ = description.value("balanced", false);
    result.mean_ = JsonDoubles(description, "standardize_mean");
    result.scale_ = JsonDoubles(description, "standardize_scale");
  } catch (const nlohmann::json::exception& e) {
    throw IoError(model_file.string() + ": classifier description: " + e.what());
  }
  const model& m = *result.model_;
  const bool scaler_ok = result.mean_.size() == result.scale_.size() &&
                         (result.mean_.empty() || result.mean_.size() == result.dim_);
  if (m.nr_class != static_cast<int>(result.n_classes_) || m.nr_feature != static_cast<int>(result.dim_) ||
      !check_probability_model(&m) || !scaler_ok) {
    throw IoError(model_file.string() + ": does not match its description (" + std::to_string(m.nr_class) +
                  " classes, " + std::to_string(m.nr_feature) + " features)");
  }
  // The labels index the probability rows: each must be a distinct class in [0, n_classes), or a damaged
  // file would make PredictProbabilities write out of bounds.
  std::vector<bool> seen(result.n_classes_, false);
  for (int j = 0; j < m.nr_class; ++j) {
    const int label = m.label[j];
    if (label < 0 || static_cast<std::size_t>(label) >= result.n_classes_ || seen[label]) {
      throw IoError(model_file.string() + ": label " + std::to_string(label) +
                    " is not a distinct class in [0, " + std::to_string(result.n_classes_) +
                    ") (a damaged classifier file)");
    }
    seen[label] = true;
    result.column_of_.push_back(label);
  }
  return result;
}

void LogisticClassifier::Save(const std::filesystem::path& model_file) const {
  if (save_model(model_file.c_str(), model_.get()) != 0) {
    throw IoError(model_file.string() + ": cannot write the classifier");
  }
}

nlohmann::json LogisticClassifier::Describe() const {
  nlohmann::json json = {{"kind", kKind},
                         {"solver", model_->param.solver_type == L2R_LR_DUAL ? "dual" : "primal"},
                         {"c", c_},
                         {"dim", dim_},
                         {"n_classes", n_classes_},
                         {"l2_normalize", l2_normalize_},
                         {"balanced", balanced_}};
  if (!mean_.empty()) {
    json["standardize_mean"] = mean_;
    json["standardize_scale"] = scale_;
  }
  return json;
}

std::vector<double> LogisticClassifier::Standardized(std::span<const float> row) const {
  const double factor = RowFactor(row, l2_normalize_);
  std::vector<double> values(row.size());
  for (std::size_t j = 0; j < values.size(); ++j) values[j] = row[j] * factor;
  if (mean_.empty()) return values;
  for (std::size_t j = 0; j < values.size(); ++j) values[j] = (values[j] - mean_[j]) * scale_[j];
  return values;
}

void LogisticClassifier::PredictProbabilities(std::span<const float> rows, std::size_t n,
                                              std::span<float> out) const {
  if (rows.size() != n * dim_ || out.size() != n * n_classes_) {
    throw std::invalid_argument("LogisticClassifier: wrong input or output size");
  }
  std::vector<feature_node> nodes(dim_ + 2);
  std::vector<double> probabilities(n_classes_);
  for (std::size_t i = 0; i < n; ++i) {
    FillNodes(Standardized(rows.subspan(i * dim_, dim_)), nodes);
    predict_probability(model_.get(), nodes.data(), probabilities.data());
    for (std::size_t j = 0; j < n_classes_; ++j) {
      out[i * n_classes_ + column_of_[j]] = static_cast<float>(probabilities[j]);
    }
  }
}

}  // namespace orchard
