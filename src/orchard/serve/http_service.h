#pragma once

#include <atomic>
#include <ostream>

#include "orchard/serve/serve_options.h"
// Not needed here, but first in http_service.cpp: httplib.h brings resolv.h's `_res` macro, which breaks
// Eigen's headers (through the recognizer) when they come after it.
#include "orchard/serve/served_model.h"

namespace orchard {

// The HTTP service (cpp-httplib):
//   POST /v1/predict  raw image body, or multipart/form-data field "image"
//                     -> {label, top_k: [{label, probability}]}
//   POST /v1/embed    same input -> {features, pca}
//   POST /v1/similar[?k=20]  same input -> {similar: [{path, label, distance}]}, the k nearest images of
//                     options.index (404 when the server has none; similar_endpoint.h)
//   GET  /healthz     {status: "ok", model_name, model_version, labels, feature_dim, pca_dim}
//   GET  /metrics     Prometheus text: requests by endpoint and code, errors, latency histograms, batches
//   GET  /            a page to drop a photo on and see the prediction (no external resources)
//   /v2/...           the Open Inference Protocol v2 (oip_protocol.h): GET /v2/health/live, /v2/health/ready
//                     (200 once a warm-up inference passed), /v2, /v2/models/NAME[/versions/V][/ready],
//                     POST /v2/models/NAME[/versions/V]/infer
// The model is options.bundle (version 1) or the newest version of options.model_repository, which is then
// polled and hot-swapped (served_model.h). Throws what loading the first version throws.
// Every error is JSON {"error": reason}: 400 for a corrupt or empty image or a malformed protocol request;
// 415 for a body that is not a JPEG, PNG or WebP; 413 over max_body_bytes (from the Content-Length, before
// reading; a chunked body as soon as it passes the limit); 411 for a body with neither Content-Length nor
// chunked encoding; 401 without the token; 404/405; 503 before ready. A 500 says "internal error" and a
// request id; the detail goes to `log`. One JSON access-log line per request goes to `log`.
// A request's head (request line and headers) must arrive within header_timeout of its first byte, or its
// connection is closed without an answer (head_deadline_server.h: a slowloris client cannot hold a thread).
// Blocks until `stop` becomes true (checked every 100 ms), then turns readiness false, keeps serving for
// drain_period (a load balancer's health checks take it out of rotation meanwhile), then refuses new
// connections, finishes the requests in flight and returns. Writes "orchard: serving on http://HOST:PORT" to
// `log` once listening. Throws IoError when the address cannot be bound, UsageError when the token file
// cannot be read or the index was made with other features than the first version's (similar_endpoint.h; a
// later version with other features is refused and the served one stays).
void Serve(const ServeOptions& options, const std::atomic<bool>& stop, std::ostream& log);

}  // namespace orchard
