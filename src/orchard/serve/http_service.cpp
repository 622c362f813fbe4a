#include "orchard/serve/http_service.h"  // first: Eigen (through the recognizer) before httplib.h

#include <malloc.h>
#include <sys/socket.h>

#include <memory>
#include <thread>

#include "orchard/common/error.h"
#include "orchard/image/decode.h"
#include "orchard/serve/client_error.h"
#include "orchard/serve/connection_pool.h"
#include "orchard/serve/head_deadline_server.h"
#include "orchard/serve/request_guard.h"
#include "orchard/serve/service.h"

namespace orchard {
namespace {

// Requests served on one keep-alive connection before it is closed (nginx's keepalive_requests default).
constexpr std::size_t kKeepAliveMaxRequests = 1000;

using Clock = std::chrono::steady_clock;

// The request being handled by this thread (httplib handles a request in one thread): when it began and its
// id, for the access log and the log line of an internal error. Empty when the request was refused before
// routing (a malformed request line).
struct RequestContext {
  Clock::time_point start{};
  std::string id;
};
thread_local RequestContext current_request;

std::size_t MaxRequests(const ServeOptions& options) {
  return options.max_requests > 0 ? options.max_requests : 2 * options.max_batch;
}

bool ExpectsBody(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// Says "Connection: close" in `res` and has the connection closed once it is written.
void CloseAfterAnswer(httplib::Response& res) {
  res.set_header("Connection", "close");
  HeadDeadlineServer::CloseAfterAnswer();
}

}  // namespace

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void SendOrderedJson(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

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

Service::Service(ModelManager& models, const ServeOptions& options, LogSink& log)
    : models_(models),
      options_(options),
      log_(log),
      token_(options.auth_token_file.empty() ? "" : ReadTokenFile(options.auth_token_file)),
      requests_(static_cast<std::ptrdiff_t>(MaxRequests(options))),
      decoders_(options.decode_threads) {}

void Service::Install(httplib::Server& server) {
  server.new_task_queue = [this] { return new ConnectionPool(options_.max_connections); };
  server.set_payload_max_length(options_.max_body_bytes);
  server.set_read_timeout(options_.read_timeout);
  server.set_write_timeout(options_.write_timeout);
  server.set_keep_alive_timeout(options_.idle_timeout.count());
  // httplib closes a keep-alive connection after 5 requests by default, so a client paid a new connection
  // (and its own TCP handshake) every 5th request; 1,000 as nginx's keepalive_requests.
  server.set_keep_alive_max_count(kKeepAliveMaxRequests);
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    current_request = {Clock::now(), std::to_string(next_request_id_++)};
    return Admit(req, res) ? httplib::Server::HandlerResponse::Unhandled
                           : httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    const std::string_view allowed = EndpointMethod(EndpointLabel(req.path));
    if (res.status == 404 && res.body.empty() && !allowed.empty() && req.method != allowed &&
        !(req.method == "HEAD" && allowed == "GET")) {
      res.status = 405;
      res.set_header("Allow", std::string(allowed));
    }
    if (res.body.empty())
      SendJson(res, res.status, {{"error", StatusMessage(res.status, options_.max_body_bytes)}});
  });
  server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                      std::exception_ptr error) { InternalError(req, res, error); });
  server.set_logger([this](const httplib::Request& req, const httplib::Response& res) { Record(req, res); });
  InstallV1(server);
  InstallV2(server);
}

void Service::WarmUp() {
  try {
    models_.current()->WarmUp();
    std::lock_guard lock(ready_mutex_);
    ready_ = !draining_;
  } catch (const std::exception& e) {
    Log(std::string("orchard: warm-up inference failed, not ready: ") + e.what());
  }
}

void Service::Drain() {
  std::lock_guard lock(ready_mutex_);
  draining_ = true;
  ready_ = false;
}

// Refuses, before the body is read, what must not reach a handler. Returns false when `res` is the answer.
bool Service::Admit(const httplib::Request& req, httplib::Response& res) {
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
  // Two Content-Length headers that differ leave the body's end ambiguous between a proxy and this server (a
  // request-smuggling vector, RFC 9112 6.3); a sign ("-1", which stoull wraps) is no length either.
  for (std::size_t i = 1; i < req.get_header_value_count("Content-Length"); ++i) {
    if (req.get_header_value("Content-Length", i) != length) return Refuse(res, 400);
  }
  if (length.empty() || length.find_first_not_of("0123456789") != std::string::npos) return Refuse(res, 400);
  std::size_t bytes = 0;
  try {
    bytes = std::stoull(length);
  } catch (const std::exception&) {
    return Refuse(res, 413);  // more digits than 64 bits hold: over any limit
  }
  return bytes <= options_.max_body_bytes || Refuse(res, 413);
}

// An answer before the body was read: the connection is closed after it ("Connection: close" says so), since
// its unread body bytes would otherwise be taken for the client's next request.
bool Service::Refuse(httplib::Response& res, int status) {
  SendJson(res, status, {{"error", StatusMessage(status, options_.max_body_bytes)}});
  CloseAfterAnswer(res);
  return false;
}

void Service::InternalError(const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
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

void Service::Record(const httplib::Request& req, const httplib::Response& res) {
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
void Service::RunTimed(const std::string& endpoint, httplib::Response& res, Handle&& handle) {
  const auto start = Clock::now();
  try {
    handle();
  } catch (const ClientError& e) {
    metrics_.CountError(endpoint, e.reason);
    SendJson(res, e.status, {{"error", e.message}});
    if (e.body_unread) CloseAfterAnswer(res);
  }
  metrics_.ObserveLatency(endpoint, std::chrono::duration<double>(Clock::now() - start).count());
}

httplib::Server::Handler Service::Timed(std::string endpoint, httplib::Server::Handler handler) {
  return [this, endpoint = std::move(endpoint), handler = std::move(handler)](const httplib::Request& req,
                                                                              httplib::Response& res) {
    RunTimed(endpoint, res, [&] { handler(req, res); });
  };
}

httplib::Server::HandlerWithContentReader Service::WithBody(std::string endpoint, BodyHandler handler) {
  return [this, endpoint = std::move(endpoint), handler = std::move(handler)](
             const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    // Past this gate a request holds its body, decoded images and results: max_requests at once.
    requests_.acquire();
    const std::unique_ptr<std::counting_semaphore<>, void (*)(std::counting_semaphore<>*)> admitted(
        &requests_, [](std::counting_semaphore<>* gate) { gate->release(); });
    RunTimed(endpoint, res, [&] { handler(req, ReadBody(req, reader), res); });
  };
}

// Reads the body as it arrives, so that a chunked one (its size unknown up front) is refused with 413 once
// it passes the limit rather than read unbounded. Of a multipart body only the field "image" is kept.
std::string Service::ReadBody(const httplib::Request& req, const httplib::ContentReader& reader) const {
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
  if (too_large) throw ClientError{413, "too_large", StatusMessage(413, options_.max_body_bytes), true};
  if (!read)
    throw ClientError{400, "body", "the body could not be read (malformed chunks or multipart)", true};
  if (multipart && !has_image)
    throw ClientError{400, "no_image", "multipart body without an \"image\" field"};
  return body;
}

// `what` names the image in messages ("the body", "image 2").
PreparedImage Service::Prepare(const ServedModel& model, std::string_view body, const std::string& what) {
  if (body.empty()) throw ClientError{400, "empty", what + " is empty"};
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  if (SniffFormat(bytes) == ImageFormat::kUnknown)
    throw ClientError{415, "unsupported_type", what + " is not a JPEG, PNG or WebP image"};
  try {
    return decoders_.Run([&] { return model.recognizer.Prepare(bytes); });
  } catch (const InputError& e) {
    throw ClientError{400, "decode", what + ": cannot decode the image: " + e.what()};
  }
}

void Serve(const ServeOptions& options, const std::atomic<bool>& stop, std::ostream& log) {
  // Large buffers (bodies, decoded images) are mapped and unmapped, not kept in malloc's arenas: freed memory
  // goes back to the system, so the peak RSS follows the settings (MemoryBound) rather than the history.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  LogSink sink(log);
  ModelManager models(options, sink);
  Service service(models, options, sink);
  HeadDeadlineServer server(options.header_timeout);
  service.Install(server);
  // httplib listens with a backlog of 5: a burst of clients connecting at once overflows it, and the kernel
  // resets some of their connections. The listening socket is caught as it is created and given the system's.
  socket_t listener = INVALID_SOCKET;
  // Not httplib's default SO_REUSEPORT, with which a second service bound to the same port started and the
  // kernel shared the connections between the two; SO_REUSEADDR only lets a restart bind while the last
  // one's connections are in TIME_WAIT.
  server.set_socket_options([&listener](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listener = sock;
  });
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0 || ::listen(listener, SOMAXCONN) != 0)
    throw IoError("cannot listen on " + options.host + ":" + std::to_string(options.port));
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
