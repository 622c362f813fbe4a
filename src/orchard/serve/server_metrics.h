#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace orchard {

// Request counters and latency histograms for GET /metrics, in the Prometheus text format (version 0.0.4).
// Thread-safe.
class ServerMetrics {
 public:
  // Latency bucket upper bounds in seconds (Prometheus' "le"); +Inf is implied.
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                      0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

  // Every answered request, whatever its status, including ones refused before a handler ran (413, 404).
  void CountRequest(const std::string& endpoint, int status);
  // Handled requests' time from the request line read to the response built.
  void ObserveLatency(const std::string& endpoint, double seconds);
  // Images that could not be recognised (bad bodies), by reason class ("decode", "too_large", ...).
  void CountError(const std::string& endpoint, const std::string& reason);

  // `extra` is appended as is (already in the text format), for figures owned elsewhere (batch sizes).
  std::string Render(const std::string& extra = "") const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};  // not cumulative; Render() accumulates
    std::uint64_t count = 0;
    double sum = 0.0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> errors_;
  std::map<std::string, Histogram> latency_;
};

// The label value for a request path: the known endpoints as they are, anything else "other", so that
// random paths cannot grow the metrics without bound.
std::string EndpointLabel(const std::string& path);

// The method an endpoint label (EndpointLabel) answers: "POST" for /v1/predict, /v1/embed, /v1/similar and
// /v2/models/infer, "GET" for the others, empty for "other". A known path asked with another method gets 405
// with this as its Allow header, not 404.
std::string_view EndpointMethod(std::string_view endpoint);

}  // namespace orchard
