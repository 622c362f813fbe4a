#include "orchard/recognition/run_evaluation.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <span>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/pipeline/output_guard.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/recognition/bundle.h"
#include "orchard/recognition/evaluation.h"
#include "orchard/recognition/labelled_rows.h"
#include "orchard/recognition/leakage.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/recognition/report.h"

namespace orchard {
namespace {

nlohmann::json VarianceCurve(const PcaModel& pca) {
  nlohmann::json points = nlohmann::json::array();
  double cumulative = 0.0;
  for (Eigen::Index c = 0; c < pca.explained_variance_ratio.size(); ++c) {
    cumulative += pca.explained_variance_ratio[c];
    points.push_back(
        {{"component", c + 1}, {"ratio", pca.explained_variance_ratio[c]}, {"cumulative", cumulative}});
  }
  return points;
}

nlohmann::json Scatter(const LabelledRows& rows, std::span<const float> projected, std::size_t k,
                       std::span<const float> probabilities, const std::vector<std::string>& labels) {
  nlohmann::json points = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto predicted = TopK(probabilities.subspan(i * labels.size(), labels.size()), 1).front();
    points.push_back({{"pc1", projected[i * k]},
                      {"pc2", k > 1 ? projected[i * k + 1] : 0.0f},
                      {"label", rows.labels[i]},
                      {"predicted", labels[predicted]}});
  }
  return points;
}

nlohmann::json Throughput(const nlohmann::json& manifest) {
  nlohmann::json stages = nlohmann::json::array();
  const nlohmann::json timings = manifest.value("timings", nlohmann::json::object());
  for (const auto& [name, seconds] : timings.items()) {
    stages.push_back({{"stage", name}, {"seconds", seconds}});
  }
  const nlohmann::json model = manifest.at("model");
  return {{"images_per_second", manifest.value("images_per_second", 0.0)},
          {"images", manifest.at("counts").value("seen", 0)},
          {"stages", stages},
          {"figures",
           {{"images/s", manifest.value("images_per_second", 0.0)},
            {"images seen", manifest.at("counts").value("seen", 0)},
            {"images failed", manifest.at("counts").value("failed", 0)},
            {"wall seconds", manifest.value("wall_seconds", 0.0)},
            {"batch size", manifest.value("batch_size", 0)},
            {"decode threads", manifest.value("decode_threads", 0)},
            {"model", model.value("file", "")},
            {"precision", model.value("precision", "")}}}};
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw IoError(path.string() + ": cannot write");
}

}  // namespace

void CheckSameFeatures(const Bundle& bundle, const nlohmann::json& manifest, const std::string& output) {
  const ModelReference run = ModelReference::FromJson(manifest.at("model"));
  if (run.precision != bundle.model.precision) {
    throw UsageError(output + " holds features computed at precision " + run.precision +
                     ", the bundle's model runs at " + bundle.model.precision +
                     "; evaluate on a run made with --precision " + bundle.model.precision);
  }
  if (run.sha256 != bundle.model.sha256 || run.feature_tensor != bundle.model.feature_tensor ||
      PreprocessSpec::FromJson(manifest.at("preprocess")).ToJson() != bundle.preprocess.ToJson()) {
    throw UsageError(output +
                     " was made with another model, feature tensor or preprocessing than the bundle (" +
                     run.file + " " + run.sha256.substr(0, 12) + " vs " + bundle.model.file + " " +
                     bundle.model.sha256.substr(0, 12) + ")");
  }
}

nlohmann::json EvaluateBundle(const EvaluateOptions& options, std::ostream& log) {
  const Bundle bundle = Bundle::Load(options.bundle);
  const OutputLayout layout{ResolveLocation(options.output)};
  if (!options.report.empty()) {
    static constexpr std::array<std::string_view, 3> kKeys = {"top1", "per_class", "confusion"};
    CheckReportFolder(options.report, layout.root.uri(), {"metrics.json", "report.html", kKeys});
  }
  const nlohmann::json manifest = ReadRunManifest(layout);
  CheckSameFeatures(bundle, manifest, layout.root.uri());
  if (bundle.training.value("output", "") == layout.root.uri() &&
      bundle.training.value("split", "") == options.split) {
    log << "orchard: warning: evaluating on the split the bundle was trained on\n";
  }
  // The bundle's own PCA projects the features, so what is measured is exactly what predict and serve run.
  const LabelledRows rows = ReadLabelledRows(layout, manifest, "features", options.split);
  const std::size_t k = bundle.pca.k();
  std::vector<float> projected(rows.size() * k);
  bundle.pca.Transform(rows.values, rows.size(), projected);
  std::vector<float> probabilities(rows.size() * bundle.labels.size());
  bundle.PredictProbabilities(rows.values, projected, rows.size(), probabilities);
  const Evaluation evaluation = Evaluate(rows.labels, probabilities, bundle.labels);
  if (!evaluation.unknown_labels.empty()) {
    log << "orchard: warning: " << evaluation.unknown_labels.size()
        << " labels are unknown to the bundle and count as errors\n";
  }

  nlohmann::json metrics = evaluation.ToJson();
  if (bundle.open_set) {
    std::vector<float> scores(rows.size());
    bundle.open_set->Score(rows.values, rows.size(), scores);
    metrics["open_set"] = EvaluateOpenSet(rows.labels, scores, bundle.labels, bundle.open_set->threshold());
  }
  metrics["split"] = options.split;
  metrics["output"] = layout.root.uri();
  metrics["bundle"] = std::filesystem::absolute(options.bundle).string();
  metrics["leakage_free"] = LeakageFreeMetrics(layout, manifest, bundle.training.value("split", "Training"),
                                               rows, probabilities, bundle.labels);
  if (options.report.empty()) return metrics;
  std::error_code error;
  std::filesystem::create_directories(options.report, error);
  if (error) throw IoError(options.report + ": " + error.message());
  const std::filesystem::path report(options.report);
  WriteText(report / "metrics.json", metrics.dump(2) + "\n");
  WriteReport(report / "report.html", {{"metrics", metrics},
                                       {"split", options.split},
                                       {"output", layout.root.uri()},
                                       {"bundle", metrics["bundle"]},
                                       {"variance", VarianceCurve(bundle.pca)},
                                       {"scatter", Scatter(rows, projected, k, probabilities, bundle.labels)},
                                       {"throughput", Throughput(manifest)}});
  return metrics;
}

}  // namespace orchard
