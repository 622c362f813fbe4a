#include "orchard/serve/http_service.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/serve/index_page.h"
#include "orchard/serve/inference_batcher.h"
#include "orchard/serve/server_metrics.h"

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
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
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 411:
      return "a Content-Length is required (chunked bodies are not accepted)";
    case 413:
      return "body too large: the limit is " + std::to_string(max_body_bytes) + " bytes";
    default:
      return "HTTP " + std::to_string(status);
  }
}

class Service {
 public:
  Service(Recognizer& recognizer, const ServeOptions& options)
      : recognizer_(recognizer),
        options_(options),
        batcher_(recognizer, options.max_batch, options.max_wait) {}

  void Install(httplib::Server& server) {
    const int threads =
        options_.http_threads > 0 ? options_.http_threads : static_cast<int>(2 * options_.max_batch);
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server.set_payload_max_length(options_.max_body_bytes);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // The payload limit is only checked against Content-Length; a chunked body would be read unbounded.
      if (req.method == "POST" && req.has_header("Transfer-Encoding")) {
        SendJson(res, 411, {{"error", StatusMessage(411, options_.max_body_bytes)}});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty())
        SendJson(res, res.status, {{"error", StatusMessage(res.status, options_.max_body_bytes)}});
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
          std::string message = "internal error";
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            message += std::string(": ") + e.what();
          } catch (...) {
          }
          SendJson(res, 500, {{"error", message}});
        });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      metrics_.CountRequest(EndpointLabel(req.path), res.status);
    });
    server.Post("/v1/predict",
                Timed("/v1/predict", [this](const auto& req, auto& res) { Predict(req, res); }));
    server.Post("/v1/embed", Timed("/v1/embed", [this](const auto& req, auto& res) { Embed(req, res); }));
    server.Get("/healthz", Timed("/healthz", [this](const auto&, auto& res) { Health(res); }));
    server.Get("/metrics", [this](const auto&, auto& res) {
      res.set_content(metrics_.Render(BatchMetrics()), "text/plain; version=0.0.4");
    });
    server.Get("/", [](const auto&, auto& res) { res.set_content(IndexPage(), "text/html; charset=utf-8"); });
  }

 private:
  httplib::Server::Handler Timed(std::string endpoint, httplib::Server::Handler handler) {
    return [this, endpoint = std::move(endpoint), handler = std::move(handler)](const httplib::Request& req,
                                                                                httplib::Response& res) {
      const auto start = Clock::now();
      try {
        handler(req, res);
      } catch (const ClientError& e) {
        metrics_.CountError(endpoint, e.reason);
        SendJson(res, e.status, {{"error", e.message}});
      }
      metrics_.ObserveLatency(endpoint, std::chrono::duration<double>(Clock::now() - start).count());
    };
  }

  // A multipart field is returned by value, so it is kept in `storage`.
  static std::string_view ImageBytes(const httplib::Request& req, std::string& storage) {
    if (!req.is_multipart_form_data()) return req.body;
    if (!req.has_file("image"))
      throw ClientError{400, "no_image", "multipart body without an \"image\" field"};
    storage = req.get_file_value("image").content;
    return storage;
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

  Recognition Recognize(const httplib::Request& req, const RecognizeOptions& options) {
    std::string storage;
    const std::string_view body = ImageBytes(req, storage);
    if (body.empty())
      throw ClientError{400, "empty", "empty body: send the image bytes (or a multipart \"image\" field)"};
    const std::span bytes(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    if (SniffFormat(bytes) == ImageFormat::kUnknown) {
      throw ClientError{415, "unsupported_type", "the body is not a JPEG, PNG or WebP image"};
    }
    PreparedImage image;
    try {
      image = recognizer_.Prepare(bytes);
    } catch (const InputError& e) {
      throw ClientError{400, "decode", std::string("cannot decode the image: ") + e.what()};
    }
    Recognition result = batcher_.Submit(std::move(image), options);
    if (!result.ok()) throw ClientError{422, "inference", result.error};
    return result;
  }

  void Predict(const httplib::Request& req, httplib::Response& res) {
    const Recognition result = Recognize(req, {TopK(req), false});
    nlohmann::json top = nlohmann::json::array();
    for (const auto& scored : result.top_k)
      top.push_back({{"label", scored.label}, {"probability", scored.probability}});
    SendJson(res, 200, {{"label", result.top_k.front().label}, {"top_k", top}});
  }

  void Embed(const httplib::Request& req, httplib::Response& res) {
    const Recognition result = Recognize(req, {1, true});
    SendJson(res, 200, {{"features", result.features}, {"pca", result.pca}});
  }

  void Health(httplib::Response& res) const {
    const Bundle& bundle = recognizer_.bundle();
    SendJson(res, 200,
             {{"status", "ok"},
              {"model", bundle.model.file},
              {"labels", bundle.labels.size()},
              {"feature_dim", bundle.model.feature_dim},
              {"pca_dim", bundle.pca.k()}});
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
  ServerMetrics metrics_;
  InferenceBatcher batcher_;
};

}  // namespace

void Serve(Recognizer& recognizer, const ServeOptions& options, const std::atomic<bool>& stop,
           std::ostream& log) {
  Service service(recognizer, options);
  httplib::Server server;
  service.Install(server);
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0) throw IoError("cannot listen on " + options.host + ":" + std::to_string(options.port));
  log << "orchard: serving on http://" << options.host << ":" << port << std::endl;
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!stop && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // stop() is a no-op until the server runs, so it is repeated until listening has ended.
    while (!finished) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  server.listen_after_bind();
  finished = true;
  watcher.join();
}

}  // namespace orchard
