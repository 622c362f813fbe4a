// The Open Inference Protocol v2 endpoints (oip_protocol.h: the wire format; README, "serve").

#include "orchard/serve/service.h"
// after service.h, which brings httplib.h after Eigen
#include <algorithm>
#include <optional>

#include "orchard/serve/client_error.h"
#include "orchard/serve/oip_protocol.h"

namespace orchard {
namespace {

// Images per /v2 infer request: each is decoded to a model input before the batch runs, so this bounds a
// request's memory along with the body limit.
constexpr std::size_t kMaxImagesPerRequest = 64;

// 404 unless the path names the served model (and its version, when it names one). Returns its description.
const oip::ModelInfo& CheckModel(const httplib::Request& req, const ServedModel& model) {
  const oip::ModelInfo& info = model.info;
  const bool version_ok = req.matches.size() < 3 || !req.matches[2].matched || req.matches[2] == info.version;
  if (req.matches.size() < 2 || req.matches[1] != info.name || !version_ok)
    throw ClientError{404, "no_model",
                      "no such model: this server serves \"" + info.name + "\" version " + info.version};
  return info;
}

}  // namespace

void Service::InstallV2(httplib::Server& server) {
  const std::string model = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
  server.Get("/v2/health/live", [](const auto&, auto& res) { SendJson(res, 200, nlohmann::json::object()); });
  server.Get("/v2/health/ready", [this](const auto&, auto& res) { Ready(res); });
  server.Get("/v2", [](const auto&, auto& res) { SendJson(res, 200, oip::ServerMetadata()); });
  server.Get(model, Timed("/v2/models/metadata", [this](const auto& req, auto& res) {
               SendJson(res, 200, oip::ModelMetadata(CheckModel(req, *models_.current())));
             }));
  server.Get(model + "/ready", Timed("/v2/models/ready", [this](const auto& req, auto& res) {
               CheckModel(req, *models_.current());
               Ready(res);
             }));
  server.Post(model + "/infer", WithBody("/v2/models/infer", [this](const auto& req, auto body, auto& res) {
                Infer(req, body, res);
              }));
}

void Service::Ready(httplib::Response& res) const {
  if (ready_) {
    SendJson(res, 200, nlohmann::json::object());
  } else {
    SendJson(res, 503, {{"error", "not ready"}});
  }
}

void Service::Infer(const httplib::Request& req, std::string_view body, httplib::Response& res) {
  const auto model = models_.current();
  const oip::ModelInfo& info = CheckModel(req, *model);
  if (!ready_) throw ClientError{503, "not_ready", "the model is not ready"};
  std::optional<std::size_t> header_length;
  if (req.has_header("Inference-Header-Content-Length")) {
    try {
      header_length = std::stoull(req.get_header_value("Inference-Header-Content-Length"));
    } catch (const std::exception&) {
      throw ClientError{400, "protocol", "Inference-Header-Content-Length is not a number"};
    }
  }
  oip::InferRequest request;
  try {
    request = oip::ParseInferRequest(body, header_length, info, options_.top_k, kMaxImagesPerRequest);
  } catch (const oip::ProtocolError& e) {
    throw ClientError{400, "protocol", e.what()};
  }
  std::vector<PreparedImage> images;
  auto arrival = model->batcher.Expect(request.images.size());
  for (std::size_t i = 0; i < request.images.size(); ++i)
    images.push_back(Prepare(*model, request.images[i], "image " + std::to_string(i)));
  const bool features = std::any_of(request.outputs.begin(), request.outputs.end(),
                                    [](const auto& output) { return output.name == "features"; });
  const auto results = model->batcher.SubmitAll(std::move(images), {request.top_k, features}, arrival);
  for (std::size_t i = 0; i < results.size(); ++i)
    if (!results[i].ok())
      throw ClientError{422, "inference", "image " + std::to_string(i) + ": " + results[i].error};
  auto response = oip::EncodeInferResponse(request, info, results);
  res.status = 200;
  if (response.header_length) {
    res.set_header("Inference-Header-Content-Length", std::to_string(*response.header_length));
    res.set_content(std::move(response.body), "application/octet-stream");
  } else {
    res.set_content(std::move(response.body), "application/json");
  }
}

}  // namespace orchard
