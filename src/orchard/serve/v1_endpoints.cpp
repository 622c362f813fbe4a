// orchard's own endpoints (README, "serve"): /v1/predict, /v1/embed, /v1/similar, /healthz, /metrics, /.

#include "orchard/serve/service.h"
// after service.h, which brings httplib.h after Eigen
#include "orchard/serve/client_error.h"
#include "orchard/serve/index_page.h"
#include "orchard/serve/similar_endpoint.h"

namespace orchard {

void Service::InstallV1(httplib::Server& server) {
  server.Post("/v1/predict", WithBody("/v1/predict", [this](const auto& req, auto body, auto& res) {
                Predict(req, body, res);
              }));
  server.Post("/v1/embed",
              WithBody("/v1/embed", [this](const auto&, auto body, auto& res) { Embed(body, res); }));
  server.Post("/v1/similar", WithBody("/v1/similar", [this](const auto& req, auto body, auto& res) {
                Similar(req, body, res);
              }));
  server.Get("/healthz", Timed("/healthz", [this](const auto&, auto& res) { Health(res); }));
  server.Get("/metrics", [this](const auto&, auto& res) {
    res.set_content(metrics_.Render(models_.MetricsText()), "text/plain; version=0.0.4");
  });
  server.Get("/", [](const auto&, auto& res) { res.set_content(IndexPage(), "text/html; charset=utf-8"); });
}

std::size_t Service::TopK(const httplib::Request& req, const ServedModel& model) const {
  if (!req.has_param("top_k")) return options_.top_k;
  try {
    const long k = std::stol(req.get_param_value("top_k"));
    if (k >= 1) return std::min(static_cast<std::size_t>(k), model.info.labels);
  } catch (const std::exception&) {
  }
  throw ClientError{400, "bad_parameter", "top_k must be a positive integer"};
}

// `model` is the version serving when the request began: it finishes on it even if a newer one is swapped
// in.
Recognition Service::Recognize(ServedModel& model, std::string_view body, const RecognizeOptions& options) {
  if (body.empty())
    throw ClientError{400, "empty", "empty body: send the image bytes (or a multipart \"image\" field)"};
  auto arrival = model.batcher.Expect(1);
  Recognition result = model.batcher.Submit(Prepare(model, body, "the body"), options, arrival);
  if (!result.ok()) throw ClientError{422, "inference", result.error};
  return result;
}

void Service::Predict(const httplib::Request& req, std::string_view body, httplib::Response& res) {
  const auto model = models_.current();
  SendOrderedJson(res, 200, RecognitionJson(Recognize(*model, body, {TopK(req, *model), false})));
}

void Service::Embed(std::string_view body, httplib::Response& res) {
  const Recognition result = Recognize(*models_.current(), body, {1, true});
  SendJson(res, 200, {{"features", result.features}, {"pca", result.pca}});
}

void Service::Similar(const httplib::Request& req, std::string_view body, httplib::Response& res) {
  const auto model = models_.current();  // the index and the features come from one version
  const SimilarIndex* index = model->similar ? &*model->similar : nullptr;
  const std::size_t k = SimilarRequestK(index, req.has_param("k") ? req.get_param_value("k") : "");
  SendJson(res, 200, SimilarAnswer(*index, Recognize(*model, body, {1, true}).features, k));
}

void Service::Health(httplib::Response& res) const {
  // The model's path stays out: it tells a caller about the host's file system.
  const auto model = models_.current();
  const Bundle& bundle = model->recognizer.bundle();
  SendJson(res, 200,
           {{"status", "ok"},
            {"model_name", model->info.name},
            {"model_version", model->info.version},
            {"labels", bundle.labels.size()},
            {"feature_dim", bundle.model.feature_dim},
            {"pca_dim", bundle.pca.k()}});
}

}  // namespace orchard
