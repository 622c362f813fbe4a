#include "orchard/serve/server_metrics.h"

#include <array>
#include <sstream>

namespace orchard {

std::string EndpointLabel(const std::string& path) {
  static constexpr std::array<const char*, 6> kKnown = {"/",           "/v1/predict", "/v1/embed",
                                                        "/v1/similar", "/healthz",    "/metrics"};
  for (const char* known : kKnown) {
    if (path == known) return path;
  }
  if (path == "/v2" || path == "/v2/health/live" || path == "/v2/health/ready") return path;
  if (path.starts_with("/v2/models/")) {
    if (path.ends_with("/infer")) return "/v2/models/infer";
    return path.ends_with("/ready") ? "/v2/models/ready" : "/v2/models/metadata";
  }
  return "other";
}

std::string_view EndpointMethod(std::string_view endpoint) {
  if (endpoint == "other") return "";
  if (endpoint == "/v1/predict" || endpoint == "/v1/embed" || endpoint == "/v1/similar" ||
      endpoint == "/v2/models/infer")
    return "POST";
  return "GET";
}

void ServerMetrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::ObserveLatency(const std::string& endpoint, double seconds) {
  std::lock_guard lock(mutex_);
  auto& histogram = latency_[endpoint];
  for (std::size_t b = 0; b < kBuckets.size(); ++b) {
    if (seconds <= kBuckets[b]) {
      ++histogram.counts[b];
      break;
    }
  }
  ++histogram.count;
  histogram.sum += seconds;
}

void ServerMetrics::CountError(const std::string& endpoint, const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++errors_[{endpoint, reason}];
}

std::string ServerMetrics::Render(const std::string& extra) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP orchard_http_requests_total HTTP requests answered, by endpoint and status code.\n"
         "# TYPE orchard_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out << "orchard_http_requests_total{endpoint=\"" << key.first << "\",code=\"" << key.second << "\"} "
        << count << "\n";
  }
  out << "# HELP orchard_http_errors_total Requests refused because of their image, by endpoint and reason.\n"
         "# TYPE orchard_http_errors_total counter\n";
  for (const auto& [key, count] : errors_) {
    out << "orchard_http_errors_total{endpoint=\"" << key.first << "\",reason=\"" << key.second << "\"} "
        << count << "\n";
  }
  out << "# HELP orchard_http_request_duration_seconds Time to answer a handled request.\n"
         "# TYPE orchard_http_request_duration_seconds histogram\n";
  for (const auto& [endpoint, histogram] : latency_) {
    const std::string name = "orchard_http_request_duration_seconds";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += histogram.counts[b];
      out << name << "_bucket{endpoint=\"" << endpoint << "\",le=\"" << kBuckets[b] << "\"} " << cumulative
          << "\n";
    }
    out << name << "_bucket{endpoint=\"" << endpoint << "\",le=\"+Inf\"} " << histogram.count << "\n";
    out << name << "_sum{endpoint=\"" << endpoint << "\"} " << histogram.sum << "\n";
    out << name << "_count{endpoint=\"" << endpoint << "\"} " << histogram.count << "\n";
  }
  out << extra;
  return out.str();
}

}  // namespace orchard
