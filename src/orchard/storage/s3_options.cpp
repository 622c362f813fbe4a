#include "orchard/storage/s3_options.h"

#include <arrow/util/uri.h>

#include <charconv>
#include <cstdlib>

#include "orchard/common/error.h"

namespace orchard {
namespace {

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string FirstNonEmpty(std::initializer_list<std::string> values) {
  for (const auto& value : values) {
    if (!value.empty()) return value;
  }
  return {};
}

int MaxAttempts() {
  const std::string text = Environment("AWS_MAX_ATTEMPTS");
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 1) {
    return kDefaultS3MaxAttempts;
  }
  return value;
}

}  // namespace

S3Endpoint ParseS3Endpoint(std::string_view url) {
  std::string text(url);
  if (text.find("://") == std::string::npos) text = "https://" + text;
  arrow::util::Uri uri;
  // The endpoint is echoed in messages, so anything that could hold a secret is refused without echoing it.
  if (text.find('@') != std::string::npos) {
    throw UsageError("S3 endpoint must not contain credentials; use the AWS credential chain");
  }
  if (!uri.Parse(text).ok() || uri.host().empty()) throw UsageError("invalid S3 endpoint '" + text + "'");
  if (uri.scheme() != "http" && uri.scheme() != "https") {
    throw UsageError("S3 endpoint '" + text + "' must start with http:// or https://");
  }
  if ((!uri.path().empty() && uri.path() != "/") || !uri.query_string().empty()) {
    throw UsageError("S3 endpoint '" + text + "' must be scheme://host[:port], without a path or query");
  }
  const std::string host = uri.host();
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string host_port;
  host_port.append(ipv6 ? "[" : "").append(host).append(ipv6 ? "]" : "");
  if (!uri.port_text().empty()) host_port.append(":").append(uri.port_text());
  return {uri.scheme(), host_port};
}

S3Settings S3SettingsFromEnvironment(S3Settings settings) {
  settings.endpoint_url = FirstNonEmpty(
      {settings.endpoint_url, Environment("AWS_ENDPOINT_URL_S3"), Environment("AWS_ENDPOINT_URL")});
  settings.region =
      FirstNonEmpty({settings.region, Environment("AWS_REGION"), Environment("AWS_DEFAULT_REGION")});
  return settings;
}

arrow::fs::S3Options MakeS3Options(const S3Settings& settings, const std::string& bucket) {
  auto options = arrow::fs::S3Options::Defaults();
  if (!settings.endpoint_url.empty()) {
    const S3Endpoint endpoint = ParseS3Endpoint(settings.endpoint_url);
    options.scheme = endpoint.scheme;
    options.endpoint_override = endpoint.host_port;
    options.force_virtual_addressing = false;  // path-style; Arrow's default, stated because we rely on it
  }
  options.region = settings.region;
  if (options.region.empty()) {
    if (!settings.endpoint_url.empty() || bucket.empty()) {
      options.region = "us-east-1";
    } else {
      // Without this the SDK signs for its own default region and AWS answers a redirect Arrow cannot follow.
      auto region = arrow::fs::ResolveS3BucketRegion(bucket);
      if (!region.ok()) {
        throw IoError("s3://" + bucket +
                      ": cannot find the bucket's region (set AWS_REGION): " + region.status().message());
      }
      options.region = *region;
    }
  }
  options.retry_strategy = arrow::fs::S3RetryStrategy::GetAwsStandardRetryStrategy(MaxAttempts());
  return options;
}

}  // namespace orchard
