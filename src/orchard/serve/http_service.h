#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "orchard/recognition/recognizer.h"

namespace orchard {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                                // 0: any free port (the chosen one is logged)
  std::size_t max_body_bytes = 20 * 1024 * 1024;  // larger bodies get 413 before they are read
  std::size_t max_batch = 16;                     // images per model call
  std::chrono::microseconds max_wait{5000};       // how long a request waits for others to share its batch
  int http_threads = 0;                           // 0: 2 * max_batch, so a full batch can gather
  std::size_t top_k = 5;                          // default; ?top_k=N per request
  std::string model_name = "orchard";             // the model's name in the /v2 protocol (version "1")
  std::chrono::seconds read_timeout{30};          // longest wait for the next bytes of a request
  std::chrono::seconds write_timeout{30};         // longest wait for the client to take response bytes
  std::chrono::seconds idle_timeout{5};           // keep-alive: longest wait for the next request
  std::chrono::seconds drain_period{0};           // after SIGTERM: not ready, still serving, for this long
  std::string auth_token_file;  // non-empty: every endpoint but health needs the Bearer token
  std::string index;            // non-empty: an output with an index (`orchard index`) for POST /v1/similar
};

// The HTTP service (cpp-httplib):
//   POST /v1/predict  raw image body, or multipart/form-data field "image"
//                     -> {label, top_k: [{label, probability}]}
//   POST /v1/embed    same input -> {features, pca}
//   POST /v1/similar[?k=20]  same input -> {similar: [{path, label, distance}]}, the k nearest images of
//                     options.index (404 when the server has none; similar_endpoint.h)
//   GET  /healthz     {status: "ok", model_name, labels, feature_dim, pca_dim}
//   GET  /metrics     Prometheus text: requests by endpoint and code, errors, latency histograms, batches
//   GET  /            a page to drop a photo on and see the prediction (no external resources)
//   /v2/...           the Open Inference Protocol v2 (oip_protocol.h): GET /v2/health/live, /v2/health/ready
//                     (200 once a warm-up inference passed), /v2, /v2/models/NAME[/versions/1][/ready],
//                     POST /v2/models/NAME[/versions/1]/infer
// Every error is JSON {"error": reason}: 400 for a corrupt or empty image or a malformed protocol request;
// 415 for a body that is not a JPEG, PNG or WebP; 413 over max_body_bytes (from the Content-Length, before
// reading; a chunked body as soon as it passes the limit); 411 for a body with neither Content-Length nor
// chunked encoding; 401 without the token; 404/405; 503 before ready. A 500 says "internal error" and a
// request id; the detail goes to `log`. One JSON access-log line per request goes to `log`.
// Blocks until `stop` becomes true (checked every 100 ms), then turns readiness false, keeps serving for
// drain_period (a load balancer's health checks take it out of rotation meanwhile), then refuses new
// connections, finishes the requests in flight and returns. Writes "orchard: serving on http://HOST:PORT" to
// `log` once listening. Throws IoError when the address cannot be bound, UsageError when the token file
// cannot be read or the index was made with other features than the bundle's (similar_endpoint.h).
void Serve(Recognizer& recognizer, const ServeOptions& options, const std::atomic<bool>& stop,
           std::ostream& log);

}  // namespace orchard
