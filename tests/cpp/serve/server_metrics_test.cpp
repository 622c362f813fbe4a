#include "orchard/serve/server_metrics.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

TEST(ServerMetricsTest, RendersCountersAndCumulativeHistograms) {
  ServerMetrics metrics;
  metrics.CountRequest("/v1/predict", 200);
  metrics.CountRequest("/v1/predict", 200);
  metrics.CountRequest("/v1/predict", 415);
  metrics.CountError("/v1/predict", "unsupported_type");
  metrics.ObserveLatency("/v1/predict", 0.003);
  metrics.ObserveLatency("/v1/predict", 0.2);
  metrics.ObserveLatency("/v1/predict", 100.0);
  const std::string text = metrics.Render("extra_metric 1\n");

  EXPECT_NE(text.find("orchard_http_requests_total{endpoint=\"/v1/predict\",code=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("orchard_http_requests_total{endpoint=\"/v1/predict\",code=\"415\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("orchard_http_errors_total{endpoint=\"/v1/predict\",reason=\"unsupported_type\"} 1\n"),
            std::string::npos);
  const std::string bucket = "orchard_http_request_duration_seconds_bucket{endpoint=\"/v1/predict\",le=";
  EXPECT_NE(text.find(bucket + "\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find(bucket + "\"0.25\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(bucket + "\"30\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(bucket + "\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("orchard_http_request_duration_seconds_count{endpoint=\"/v1/predict\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE orchard_http_request_duration_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 15), "extra_metric 1\n");
}

TEST(ServerMetricsTest, UnknownPathsShareOneLabel) {
  EXPECT_EQ(EndpointLabel("/v1/predict"), "/v1/predict");
  EXPECT_EQ(EndpointLabel("/"), "/");
  EXPECT_EQ(EndpointLabel("/random/123"), "other");
  EXPECT_EQ(EndpointLabel("/v2/health/ready"), "/v2/health/ready");
  EXPECT_EQ(EndpointLabel("/v2/models/anything/versions/7/infer"), "/v2/models/infer");
  EXPECT_EQ(EndpointLabel("/v2/models/x/ready"), "/v2/models/ready");
  EXPECT_EQ(EndpointLabel("/v2/models/x"), "/v2/models/metadata");
}

}  // namespace
}  // namespace orchard
