#pragma once

#include <arrow/filesystem/s3fs.h>

#include <string>
#include <string_view>

namespace orchard {

// How orchard talks to S3 (README, "Object storage"). Credentials always come from the AWS default chain
// (environment, shared credentials/config files and AWS_PROFILE, web identity, container or instance role):
// never from URIs, options or logs.

// Attempts per request, initial one included, unless AWS_MAX_ATTEMPTS says otherwise. Retries use the AWS
// "standard" strategy: exponential backoff with jitter, only for throttling, 5xx and network errors, so a
// wrong key or a missing bucket fails at once.
inline constexpr int kDefaultS3MaxAttempts = 5;

// A custom endpoint ("http://127.0.0.1:7070", "https://minio.example:9000", or "host:port", https implied).
struct S3Endpoint {
  std::string scheme;     // "http" or "https"
  std::string host_port;  // Arrow's endpoint_override
};

// Throws UsageError for anything but scheme://host[:port][/]: no credentials, path or query.
S3Endpoint ParseS3Endpoint(std::string_view url);

// What the options are built from. Empty strings mean "not given".
struct S3Settings {
  std::string endpoint_url;  // --s3-endpoint, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
  std::string region;        // ?region= in the URI, else AWS_REGION, else AWS_DEFAULT_REGION
};

// Fills in from the environment whatever `explicit_settings` leaves empty.
S3Settings S3SettingsFromEnvironment(S3Settings explicit_settings);

// Arrow options for `settings`, with the default credential chain. Custom endpoints use path-style
// addressing (bucket in the path, not the host name), which is what S3-compatible servers expect; AWS
// itself gets virtual-hosted addressing. Without a region, a custom endpoint is assumed to be us-east-1
// (the region most S3-compatible servers sign for) and AWS is asked where `bucket` lives. Needs Arrow's S3
// support initialised (ResolveS3Location does it): the retry strategy is an AWS SDK object.
arrow::fs::S3Options MakeS3Options(const S3Settings& settings, const std::string& bucket);

}  // namespace orchard
