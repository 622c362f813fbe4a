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
};

// The HTTP service (cpp-httplib):
//   POST /v1/predict  raw image body, or multipart/form-data field "image" -> {label, top_k: [{label,
//   probability}]} POST /v1/embed    same input -> {features, pca} GET  /healthz     {status: "ok", ...} GET
//   /metrics     Prometheus text: requests by endpoint and code, image errors, latency histograms, batches
//   GET  /            a page to drop a photo on and see the prediction (no external resources)
// Every error is JSON {"error": reason}: 400 for a corrupt or empty image, 415 for a body that is not a JPEG,
// PNG or WebP, 413 over max_body_bytes, 411 for chunked bodies (their size is unknown up front), 404/405.
// Blocks until `stop` becomes true (checked every 100 ms). Writes "orchard: serving on http://HOST:PORT" to
// `log` once listening. Throws IoError when the address cannot be bound.
void Serve(Recognizer& recognizer, const ServeOptions& options, const std::atomic<bool>& stop,
           std::ostream& log);

}  // namespace orchard
