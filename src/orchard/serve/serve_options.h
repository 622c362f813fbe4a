#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace orchard {

// Everything `orchard serve` is told (README, "serve"). The model comes from exactly one of `bundle` and
// `model_repository`.
struct ServeOptions {
  std::string bundle;            // a bundle folder or s3:// prefix, served as version 1
  std::string model_repository;  // a folder or s3:// prefix of <model_name>/<version>/ bundle folders
  std::string s3_endpoint;       // for s3:// sources; empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS
  std::chrono::seconds poll_period{30};    // how often the repository is listed for a newer version; 0: never
  int model_threads = 0;                   // inference threads; 0: OpenVINO's choice
  std::uint64_t max_pixels = 100'000'000;  // images announcing more are refused before decoding

  std::string host = "127.0.0.1";
  int port = 8080;                                // 0: any free port (the chosen one is logged)
  std::size_t max_body_bytes = 20 * 1024 * 1024;  // larger bodies get 413 before they are read
  std::size_t max_batch = 16;                     // images per model call
  // How long a request waits for others to share its batch. 0 (Triton's default queue delay): a batch takes
  // what is queued when the model is free; requests arriving while it runs make the next batch.
  std::chrono::microseconds max_wait{0};
  std::size_t max_connections = 64;    // connections served at once, a thread each; more wait in the backlog
  std::size_t max_requests = 0;        // requests past their headers at once; 0: 2 * max_batch
  std::size_t decode_threads = 0;      // images decoded at once; 0: one per core
  std::size_t top_k = 5;               // default; ?top_k=N per request
  std::string model_name = "orchard";  // the model's name in the /v2 protocol and the repository
  std::chrono::seconds read_timeout{30};    // longest wait for the next bytes of a request
  std::chrono::seconds write_timeout{30};   // longest wait for the client to take response bytes
  std::chrono::seconds idle_timeout{5};     // keep-alive: longest wait for the next request
  std::chrono::seconds header_timeout{10};  // longest from a request's first byte to the end of its headers
  std::chrono::seconds drain_period{0};     // after SIGTERM: not ready, still serving, for this long
  std::string auth_token_file;              // non-empty: every endpoint but health needs the Bearer token
  std::string index;  // non-empty: an output with an index (`orchard index`) for POST /v1/similar
};

}  // namespace orchard
