#pragma once

// Internal to the serve module: the HTTP service behind Serve() (http_service.h). Its members are defined by
// concern: http_service.cpp (set-up, admission before routing, errors, access log, bodies), v1_endpoints.cpp
// (orchard's own endpoints) and oip_endpoints.cpp (the Open Inference Protocol v2).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <string>
#include <string_view>

#include "orchard/serve/decode_pool.h"
#include "orchard/serve/log_sink.h"
#include "orchard/serve/serve_options.h"
#include "orchard/serve/served_model.h"  // before httplib.h: its resolv.h `_res` macro breaks Eigen's headers
#include "orchard/serve/server_metrics.h"
// clang-format off
#include <httplib.h>
// clang-format on

namespace orchard {

// Answers `res` with `body` as JSON (and a newline).
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);
// The same, keeping the keys in the order they were made (RecognitionJson()'s: label first).
void SendOrderedJson(httplib::Response& res, int status, const nlohmann::ordered_json& body);
// The JSON error message of a status the service answers on its own (401, 411, 413...).
std::string StatusMessage(int status, std::size_t max_body_bytes);

class Service {
 public:
  // Throws UsageError when the token file cannot be read.
  Service(ModelManager& models, const ServeOptions& options, LogSink& log);

  // Sets the server's limits and timeouts, and routes every endpoint.
  void Install(httplib::Server& server);
  // Runs the warm-up inferences (ServedModel::WarmUp); readiness turns true when they pass. Errors go to the
  // log.
  void WarmUp();
  // Readiness false for good (SIGTERM).
  void Drain();
  void Log(const std::string& line) { log_.Line(line); }

 private:
  // A handler of the request's image bytes: the body, or the multipart field "image".
  using BodyHandler = std::function<void(const httplib::Request&, std::string_view, httplib::Response&)>;

  // http_service.cpp: what every request goes through.
  bool Admit(const httplib::Request& req, httplib::Response& res);
  bool Refuse(httplib::Response& res, int status);
  void InternalError(const httplib::Request& req, httplib::Response& res, std::exception_ptr error);
  void Record(const httplib::Request& req, const httplib::Response& res);
  template <typename Handle>
  void RunTimed(const std::string& endpoint, httplib::Response& res, Handle&& handle);
  httplib::Server::Handler Timed(std::string endpoint, httplib::Server::Handler handler);
  httplib::Server::HandlerWithContentReader WithBody(std::string endpoint, BodyHandler handler);
  std::string ReadBody(const httplib::Request& req, const httplib::ContentReader& reader) const;
  PreparedImage Prepare(const ServedModel& model, std::string_view body, const std::string& what);

  // v1_endpoints.cpp: /v1/predict, /v1/embed, /v1/similar, /healthz, /metrics, /.
  void InstallV1(httplib::Server& server);
  std::size_t TopK(const httplib::Request& req, const ServedModel& model) const;
  Recognition Recognize(ServedModel& model, std::string_view body, const RecognizeOptions& options);
  void Predict(const httplib::Request& req, std::string_view body, httplib::Response& res);
  void Embed(std::string_view body, httplib::Response& res);
  void Similar(const httplib::Request& req, std::string_view body, httplib::Response& res);
  void Health(httplib::Response& res) const;

  // oip_endpoints.cpp: /v2/...
  void InstallV2(httplib::Server& server);
  void Ready(httplib::Response& res) const;
  void Infer(const httplib::Request& req, std::string_view body, httplib::Response& res);

  ModelManager& models_;
  const ServeOptions options_;
  LogSink& log_;
  const std::string token_;
  std::mutex ready_mutex_;  // orders the warm-up's ready against a drain
  bool draining_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> next_request_id_{1};
  ServerMetrics metrics_;
  std::counting_semaphore<> requests_;  // requests past their headers (body, images, results in memory)
  DecodePool decoders_;
};

}  // namespace orchard
