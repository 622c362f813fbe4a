#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace orchard {

// Compares in time that depends only on the lengths, not on where the strings differ, so that a client cannot
// find a token byte by byte from response times.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Whether an Authorization header value is "Bearer <token>" for `token` (constant-time on the token).
bool BearerMatches(std::string_view authorization, std::string_view token);

// The paths a load balancer or orchestrator probes: answered without a token.
bool IsHealthPath(std::string_view path);

// Reads a bearer token file: its content without surrounding whitespace. Throws UsageError naming the file
// when it cannot be read or holds no token.
std::string ReadTokenFile(const std::string& path);

// One access-log line (JSON, no newline): {"time" (UTC, ISO 8601 with milliseconds), "method", "endpoint",
// "status", "bytes" (response body size), "latency_ms", "request_id"}.
std::string AccessLogLine(std::chrono::system_clock::time_point time, std::string_view method,
                          std::string_view endpoint, int status, std::size_t bytes, double latency_ms,
                          std::string_view request_id);

}  // namespace orchard
