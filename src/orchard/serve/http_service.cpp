#include "orchard/serve/http_service.h"

#include <httplib.h>

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/serve/index_page.h"
#include "orchard/serve/inference_batcher.h"
#include "orchard/serve/oip_protocol.h"
#include "orchard/serve/request_guard.h"
#include "orchard/serve/server_metrics.h"

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

// Images per /v2 infer request: each is decoded to a model input before the batch runs, so this bounds a
// request's memory along with the body limit.
constexpr std::size_t kMaxImagesPerRequest = 64;

// An 8x8 grey PNG: the warm-up inference runs the whole path (decode, preprocess, model, classifier) once.
constexpr std::uint8_t kWarmUpPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29,
    0xdc, 0x00, 0x00, 0x00, 0x15, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xac, 0x68, 0xea, 0x61,
    0xc0, 0x06, 0x98, 0x18, 0x70, 0x80, 0xc1, 0x29, 0x01, 0x00, 0x34, 0xa7, 0x01, 0x96, 0x01, 0x64,
    0x5c, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

// The request being handled by this thread (httplib handles a request in one thread): when it began and its
// id, for the access log and the log line of an internal error. Empty when the request was refused before
// routing (a malformed request line).
struct RequestContext {
  Clock::time_point start{};
  std::string id;
};
thread_local RequestContext current_request;

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

// Keeps the keys in the order they were made (RecognitionJson()'s: label first).
void SendOrderedJson(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

// A failure that is the client's doing: it becomes a 4xx JSON answer and an error count.
struct ClientError {
  int status;
  std::string reason;  // metric label
  std::string message;
};

std::string StatusMessage(int status, std::size_t max_body_bytes) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "a valid \"Authorization: Bearer <token>\" header is required";
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 411:
      return "a Content-Length (or chunked transfer encoding) is required";
    case 413:
      return "body too large: the limit is " + std::to_string(max_body_bytes) + " bytes";
    default:
      return "HTTP " + std::to_string(status);
  }
}

bool ExpectsBody(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

class Service {
 public:
  Service(Recognizer& recognizer, const ServeOptions& options, std::ostream& log)
      : recognizer_(recognizer),
        options_(options),
        log_(log),
        token_(options.auth_token_file.empty() ? "" : ReadTokenFile(options.auth_token_file)),
        model_{options.model_name, "1", recognizer.bundle().labels.size(), recognizer.feature_dim()},
        batcher_(recognizer, options.max_batch, options.max_wait) {}

  void Install(httplib::Server& server) {
    const int threads =
        options_.http_threads > 0 ? options_.http_threads : static_cast<int>(2 * options_.max_batch);
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server.set_payload_max_length(options_.max_body_bytes);
    server.set_read_timeout(options_.read_timeout);
    server.set_write_timeout(options_.write_timeout);
    server.set_keep_alive_timeout(options_.idle_timeout.count());
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      current_request = {Clock::now(), std::to_string(next_request_id_++)};
      return Admit(req, res) ? httplib::Server::HandlerResponse::Unhandled
                             : httplib::Server::HandlerResponse::Handled;
    });
    server.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty())
        SendJson(res, res.status, {{"error", StatusMessage(res.status, options_.max_body_bytes)}});
    });
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                        std::exception_ptr error) { InternalError(req, res, error); });
    server.set_logger(
        [this](const httplib::Request& req, const httplib::Response& res) { Record(req, res); });
    InstallV1(server);
    InstallV2(server);
  }

  // Runs one inference on a built-in image; readiness turns true when it passes. Errors go to the log.
  void WarmUp() {
    try {
      batcher_.Submit(recognizer_.Prepare(kWarmUpPng), {1, false});
      std::lock_guard lock(ready_mutex_);
      ready_ = !draining_;
    } catch (const std::exception& e) {
      Log(std::string("orchard: warm-up inference failed, not ready: ") + e.what());
    }
  }

  void Drain() {
    std::lock_guard lock(ready_mutex_);
    draining_ = true;
    ready_ = false;
  }

  void Log(const std::string& line) {
    std::lock_guard lock(log_mutex_);
    log_ << line << std::endl;
  }

 private:
  void InstallV1(httplib::Server& server) {
    server.Post("/v1/predict", WithBody("/v1/predict", [this](const auto& req, auto body, auto& res) {
                  Predict(req, body, res);
                }));
    server.Post("/v1/embed",
                WithBody("/v1/embed", [this](const auto&, auto body, auto& res) { Embed(body, res); }));
    server.Get("/healthz", Timed("/healthz", [this](const auto&, auto& res) { Health(res); }));
    server.Get("/metrics", [this](const auto&, auto& res) {
      res.set_content(metrics_.Render(BatchMetrics()), "text/plain; version=0.0.4");
    });
    server.Get("/", [](const auto&, auto& res) { res.set_content(IndexPage(), "text/html; charset=utf-8"); });
  }

  void InstallV2(httplib::Server& server) {
    const std::string model = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    server.Get("/v2/health/live",
               [](const auto&, auto& res) { SendJson(res, 200, nlohmann::json::object()); });
    server.Get("/v2/health/ready", [this](const auto&, auto& res) { Ready(res); });
    server.Get("/v2", [](const auto&, auto& res) { SendJson(res, 200, oip::ServerMetadata()); });
    server.Get(model, Timed("/v2/models/metadata", [this](const auto& req, auto& res) {
                 CheckModel(req);
                 SendJson(res, 200, oip::ModelMetadata(model_));
               }));
    server.Get(model + "/ready", Timed("/v2/models/ready", [this](const auto& req, auto& res) {
                 CheckModel(req);
                 Ready(res);
               }));
    server.Post(model + "/infer", WithBody("/v2/models/infer", [this](const auto& req, auto body, auto& res) {
                  Infer(req, body, res);
                }));
  }

  // Refuses, before the body is read, what must not reach a handler. Returns false when `res` is the answer.
  bool Admit(const httplib::Request& req, httplib::Response& res) {
    if (!token_.empty() && !IsHealthPath(req.path) &&
        !BearerMatches(req.get_header_value("Authorization"), token_)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return Refuse(res, 401);
    }
    if (!ExpectsBody(req.method)) return true;
    // httplib would read a length-less body until the connection ends, and discard an over-limit one by
    // reading it. A chunked body is counted as it is read (ReadBody).
    if (req.has_header("Transfer-Encoding"))
      return req.get_header_value("Transfer-Encoding") == "chunked" || Refuse(res, 411);
    if (!req.has_header("Content-Length")) return Refuse(res, 411);
    const std::string length = req.get_header_value("Content-Length");
    std::size_t bytes = 0;
    try {
      std::size_t used = 0;
      bytes = std::stoull(length, &used);
      if (used != length.size()) return Refuse(res, 400);
    } catch (const std::exception&) {
      return Refuse(res, 400);
    }
    return bytes <= options_.max_body_bytes || Refuse(res, 413);
  }

  // An answer before the body was read: "Connection: close" tells the client not to reuse the connection,
  // whose unread body bytes would otherwise be taken for its next request.
  bool Refuse(httplib::Response& res, int status) {
    SendJson(res, status, {{"error", StatusMessage(status, options_.max_body_bytes)}});
    res.set_header("Connection", "close");
    return false;
  }

  void InternalError(const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
    const std::string& id = current_request.id;
    std::string detail = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      detail = e.what();
    } catch (...) {
    }
    Log("orchard: internal error in request " + id + " (" + req.method + " " + req.path + "): " + detail);
    SendJson(res, 500, {{"error", "internal error"}, {"request_id", id}});
  }

  void Record(const httplib::Request& req, const httplib::Response& res) {
    const std::string endpoint = EndpointLabel(req.path);
    metrics_.CountRequest(endpoint, res.status);
    const double latency_ms =
        current_request.start == Clock::time_point{}
            ? 0.0
            : std::chrono::duration<double, std::milli>(Clock::now() - current_request.start).count();
    Log(AccessLogLine(std::chrono::system_clock::now(), req.method, endpoint, res.status, res.body.size(),
                      latency_ms, current_request.id));
    current_request = {};
  }

  template <typename Handle>
  void RunTimed(const std::string& endpoint, httplib::Response& res, Handle&& handle) {
    const auto start = Clock::now();
    try {
      handle();
    } catch (const ClientError& e) {
      metrics_.CountError(endpoint, e.reason);
      SendJson(res, e.status, {{"error", e.message}});
    }
    metrics_.ObserveLatency(endpoint, std::chrono::duration<double>(Clock::now() - start).count());
  }

  httplib::Server::Handler Timed(std::string endpoint, httplib::Server::Handler handler) {
    return [this, endpoint = std::move(endpoint), handler = std::move(handler)](const httplib::Request& req,
                                                                                httplib::Response& res) {
      RunTimed(endpoint, res, [&] { handler(req, res); });
    };
  }

  // A handler of the request's image bytes: the body, or the multipart field "image".
  using BodyHandler = std::function<void(const httplib::Request&, std::string_view, httplib::Response&)>;

  httplib::Server::HandlerWithContentReader WithBody(std::string endpoint, BodyHandler handler) {
    return [this, endpoint = std::move(endpoint), handler = std::move(handler)](
               const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      RunTimed(endpoint, res, [&] { handler(req, ReadBody(req, reader), res); });
    };
  }

  // Reads the body as it arrives, so that a chunked one (its size unknown up front) is refused with 413 once
  // it passes the limit rather than read unbounded. Of a multipart body only the field "image" is kept.
  std::string ReadBody(const httplib::Request& req, const httplib::ContentReader& reader) const {
    std::string body;
    std::size_t received = 0;
    bool too_large = false;
    bool keep = true;
    const auto receive = [&](const char* data, std::size_t size) {
      received += size;
      if (received > options_.max_body_bytes) {
        too_large = true;
        return false;
      }
      if (keep) body.append(data, size);
      return true;
    };
    const bool multipart = req.is_multipart_form_data();
    bool has_image = false;
    const bool read = multipart ? reader(
                                      [&](const httplib::MultipartFormData& field) {
                                        keep = field.name == "image" && !has_image;
                                        has_image = has_image || keep;
                                        return true;
                                      },
                                      receive)
                                : reader(receive);
    if (too_large) throw ClientError{413, "too_large", StatusMessage(413, options_.max_body_bytes)};
    if (!read) throw ClientError{400, "body", "the body could not be read (malformed chunks or multipart)"};
    if (multipart && !has_image)
      throw ClientError{400, "no_image", "multipart body without an \"image\" field"};
    return body;
  }

  std::size_t TopK(const httplib::Request& req) const {
    if (!req.has_param("top_k")) return options_.top_k;
    try {
      const long k = std::stol(req.get_param_value("top_k"));
      if (k >= 1) return std::min(static_cast<std::size_t>(k), recognizer_.bundle().labels.size());
    } catch (const std::exception&) {
    }
    throw ClientError{400, "bad_parameter", "top_k must be a positive integer"};
  }

  // `what` names the image in messages ("the body", "image 2").
  PreparedImage Prepare(std::string_view body, const std::string& what) const {
    if (body.empty()) throw ClientError{400, "empty", what + " is empty"};
    const std::span bytes(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    if (SniffFormat(bytes) == ImageFormat::kUnknown)
      throw ClientError{415, "unsupported_type", what + " is not a JPEG, PNG or WebP image"};
    try {
      return recognizer_.Prepare(bytes);
    } catch (const InputError& e) {
      throw ClientError{400, "decode", what + ": cannot decode the image: " + e.what()};
    }
  }

  Recognition Recognize(std::string_view body, const RecognizeOptions& options) {
    if (body.empty())
      throw ClientError{400, "empty", "empty body: send the image bytes (or a multipart \"image\" field)"};
    Recognition result = batcher_.Submit(Prepare(body, "the body"), options);
    if (!result.ok()) throw ClientError{422, "inference", result.error};
    return result;
  }

  void Predict(const httplib::Request& req, std::string_view body, httplib::Response& res) {
    SendOrderedJson(res, 200, RecognitionJson(Recognize(body, {TopK(req), false})));
  }

  void Embed(std::string_view body, httplib::Response& res) {
    const Recognition result = Recognize(body, {1, true});
    SendJson(res, 200, {{"features", result.features}, {"pca", result.pca}});
  }

  void Health(httplib::Response& res) const {
    // The model's path stays out: it tells a caller about the host's file system.
    const Bundle& bundle = recognizer_.bundle();
    SendJson(res, 200,
             {{"status", "ok"},
              {"model_name", model_.name},
              {"labels", bundle.labels.size()},
              {"feature_dim", bundle.model.feature_dim},
              {"pca_dim", bundle.pca.k()}});
  }

  void Ready(httplib::Response& res) const {
    if (ready_) {
      SendJson(res, 200, nlohmann::json::object());
    } else {
      SendJson(res, 503, {{"error", "not ready"}});
    }
  }

  // 404 unless the path names the served model (and its version, when it names one).
  void CheckModel(const httplib::Request& req) const {
    const bool version_ok =
        req.matches.size() < 3 || !req.matches[2].matched || req.matches[2] == model_.version;
    if (req.matches.size() < 2 || req.matches[1] != model_.name || !version_ok)
      throw ClientError{
          404, "no_model",
          "no such model: this server serves \"" + model_.name + "\" version " + model_.version};
  }

  void Infer(const httplib::Request& req, std::string_view body, httplib::Response& res) {
    CheckModel(req);
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
      request = oip::ParseInferRequest(body, header_length, model_, options_.top_k, kMaxImagesPerRequest);
    } catch (const oip::ProtocolError& e) {
      throw ClientError{400, "protocol", e.what()};
    }
    std::vector<PreparedImage> images;
    for (std::size_t i = 0; i < request.images.size(); ++i)
      images.push_back(Prepare(request.images[i], "image " + std::to_string(i)));
    const bool features = std::any_of(request.outputs.begin(), request.outputs.end(),
                                      [](const auto& output) { return output.name == "features"; });
    const auto results = batcher_.SubmitAll(std::move(images), {request.top_k, features});
    for (std::size_t i = 0; i < results.size(); ++i)
      if (!results[i].ok())
        throw ClientError{422, "inference", "image " + std::to_string(i) + ": " + results[i].error};
    auto response = oip::EncodeInferResponse(request, model_, results);
    res.status = 200;
    if (response.header_length) {
      res.set_header("Inference-Header-Content-Length", std::to_string(*response.header_length));
      res.set_content(std::move(response.body), "application/octet-stream");
    } else {
      res.set_content(std::move(response.body), "application/json");
    }
  }

  std::string BatchMetrics() const {
    const auto stats = batcher_.stats();
    std::string text =
        "# HELP orchard_inference_batch_size Images per model call.\n"
        "# TYPE orchard_inference_batch_size histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t size = 1; size < stats.by_size.size(); ++size) {
      cumulative += stats.by_size[size];
      text += "orchard_inference_batch_size_bucket{le=\"" + std::to_string(size) + "\"} " +
              std::to_string(cumulative) + "\n";
    }
    text += "orchard_inference_batch_size_bucket{le=\"+Inf\"} " + std::to_string(stats.batches) + "\n";
    text += "orchard_inference_batch_size_sum " + std::to_string(stats.images) + "\n";
    text += "orchard_inference_batch_size_count " + std::to_string(stats.batches) + "\n";
    return text;
  }

  Recognizer& recognizer_;
  const ServeOptions options_;
  std::ostream& log_;
  std::mutex log_mutex_;
  const std::string token_;
  const oip::ModelInfo model_;
  std::mutex ready_mutex_;  // orders the warm-up's ready against a drain
  bool draining_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> next_request_id_{1};
  ServerMetrics metrics_;
  InferenceBatcher batcher_;
};

}  // namespace

void Serve(Recognizer& recognizer, const ServeOptions& options, const std::atomic<bool>& stop,
           std::ostream& log) {
  Service service(recognizer, options, log);
  httplib::Server server;
  service.Install(server);
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0) throw IoError("cannot listen on " + options.host + ":" + std::to_string(options.port));
  service.Log("orchard: serving on http://" + options.host + ":" + std::to_string(port));
  std::thread warm_up([&] { service.WarmUp(); });
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!stop && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Readiness goes false first (for drain_period the server still answers); stop() then closes the
    // listening socket (new connections are refused) and waits for the requests in flight. It is a no-op
    // until the server runs, so it is repeated.
    service.Drain();
    for (auto waited = Clock::duration::zero(); waited < options.drain_period && !finished;
         waited += std::chrono::milliseconds(100))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    while (!finished) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  server.listen_after_bind();
  finished = true;
  watcher.join();
  warm_up.join();
}

}  // namespace orchard
