#include "orchard/serve/request_guard.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orchard/common/error.h"

namespace orchard {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    difference |= static_cast<unsigned char>(x ^ y);
  }
  return difference == 0;
}

bool BearerMatches(std::string_view authorization, std::string_view token) {
  // The scheme's name is case-insensitive and one or more spaces may follow it (RFC 9110, 11.1 and 11.4).
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return false;
  authorization.remove_prefix(kScheme.size());
  authorization.remove_prefix(std::min(authorization.find_first_not_of(' '), authorization.size()));
  return ConstantTimeEquals(authorization, token);
}

bool IsHealthPath(std::string_view path) {
  return path == "/healthz" || path == "/v2/health/live" || path == "/v2/health/ready";
}

std::string ReadTokenFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UsageError("--auth-token-file " + path + ": cannot read the file");
  std::stringstream content;
  content << file.rdbuf();
  std::string token = content.str();
  if (token.starts_with("\xEF\xBB\xBF")) token.erase(0, 3);  // a UTF-8 byte-order mark (Windows editors)
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  token.erase(token.begin(), std::find_if_not(token.begin(), token.end(), space));
  token.erase(std::find_if_not(token.rbegin(), token.rend(), space).base(), token.end());
  if (token.empty()) throw UsageError("--auth-token-file " + path + ": the file holds no token");
  return token;
}

std::string AccessLogLine(std::chrono::system_clock::time_point time, std::string_view method,
                          std::string_view endpoint, int status, std::size_t bytes, double latency_ms,
                          std::string_view request_id) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char timestamp[32];
  const std::size_t length = std::strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(timestamp + length, sizeof timestamp - length, ".%03dZ", static_cast<int>(millis));
  return nlohmann::json{{"time", std::string(timestamp)},
                        {"method", method},
                        {"endpoint", endpoint},
                        {"status", status},
                        {"bytes", bytes},
                        {"latency_ms", latency_ms},
                        {"request_id", request_id}}
      .dump();
}

}  // namespace orchard
