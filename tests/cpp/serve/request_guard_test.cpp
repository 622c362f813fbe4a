#include "orchard/serve/request_guard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orchard/common/error.h"

namespace orchard {
namespace {

TEST(RequestGuardTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(RequestGuardTest, BearerNeedsTheSchemeAndTheExactToken) {
  EXPECT_TRUE(BearerMatches("Bearer s3cr3t", "s3cr3t"));
  EXPECT_TRUE(BearerMatches("bearer s3cr3t", "s3cr3t"));  // a scheme's name is case-insensitive (was 401)
  EXPECT_TRUE(BearerMatches("BEARER s3cr3t", "s3cr3t"));
  EXPECT_TRUE(BearerMatches("Bearer  s3cr3t", "s3cr3t"));  // 1*SP after the scheme (was 401)
  EXPECT_FALSE(BearerMatches("s3cr3t", "s3cr3t"));
  EXPECT_FALSE(BearerMatches("Basic s3cr3t", "s3cr3t"));
  EXPECT_FALSE(BearerMatches("Bearer s3cr3", "s3cr3t"));
  EXPECT_FALSE(BearerMatches("", "s3cr3t"));
}

TEST(RequestGuardTest, OnlyHealthPathsAreExempt) {
  EXPECT_TRUE(IsHealthPath("/v2/health/ready"));
  EXPECT_TRUE(IsHealthPath("/healthz"));
  EXPECT_FALSE(IsHealthPath("/v2/models/orchard/infer"));
  EXPECT_FALSE(IsHealthPath("/metrics"));
}

TEST(RequestGuardTest, TokenFileIsTrimmedAndMustHoldAToken) {
  const auto dir = std::filesystem::temp_directory_path() / "orchard_request_guard_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "  abc123\n";
  std::ofstream(dir / "empty") << "\n";
  EXPECT_EQ(ReadTokenFile((dir / "token").string()), "abc123");
  std::ofstream(dir / "bom") << "\xEF\xBB\xBF"
                             << "abc123\r\n";  // Notepad's UTF-8: every request was 401
  EXPECT_EQ(ReadTokenFile((dir / "bom").string()), "abc123");
  EXPECT_THROW(ReadTokenFile((dir / "empty").string()), UsageError);
  EXPECT_THROW(ReadTokenFile((dir / "missing").string()), UsageError);
  std::filesystem::remove_all(dir);
}

TEST(RequestGuardTest, AccessLogLineIsOneJsonObject) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  const std::string line = AccessLogLine(time, "POST", "/v1/predict", 200, 42, 1.5, "7");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(json["method"], "POST");
  EXPECT_EQ(json["endpoint"], "/v1/predict");
  EXPECT_EQ(json["status"], 200);
  EXPECT_EQ(json["bytes"], 42);
  EXPECT_DOUBLE_EQ(json["latency_ms"].get<double>(), 1.5);
  EXPECT_EQ(json["request_id"], "7");
}

}  // namespace
}  // namespace orchard
