// S3 configuration and URI handling, without a server: nothing here needs the network.
#include <arrow/filesystem/s3fs.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "orchard/common/error.h"
#include "orchard/storage/location.h"
#include "orchard/storage/s3_filesystem.h"
#include "orchard/storage/s3_options.h"
#include "orchard/storage/temporary_file.h"

namespace orchard {
namespace {

TEST(S3Endpoint, SplitsSchemeFromHostAndPort) {
  const S3Endpoint local = ParseS3Endpoint("http://127.0.0.1:7070");
  EXPECT_EQ(local.scheme, "http");
  EXPECT_EQ(local.host_port, "127.0.0.1:7070");
  const S3Endpoint bare = ParseS3Endpoint("minio.example:9000/");
  EXPECT_EQ(bare.scheme, "https");
  EXPECT_EQ(bare.host_port, "minio.example:9000");
}

TEST(S3Endpoint, RefusesCredentialsPathsAndOtherSchemes) {
  try {
    ParseS3Endpoint("http://AKIDEXAMPLE:s3cr3t@127.0.0.1:7070");
    FAIL() << "credentials accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos);
  }
  EXPECT_THROW(ParseS3Endpoint("ftp://127.0.0.1:21"), UsageError);
  EXPECT_THROW(ParseS3Endpoint("http://127.0.0.1:7070/bucket"), UsageError);
  EXPECT_THROW(ParseS3Endpoint("http://127.0.0.1:7070?x=1"), UsageError);
}

// Resolving a first location initialises Arrow's S3 support (which the AWS SDK objects in S3Options need)
// and arranges its finalisation at exit. The endpoint is a port nothing listens on: nothing here may need
// the server.
class S3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    SetS3Endpoint("http://127.0.0.1:9");
    ResolveLocation("s3://bucket/key");
  }
  void TearDown() override { SetS3Endpoint(""); }
};

TEST_F(S3Test, CustomEndpointUsesPathStyleAndRetries) {
  const auto options = MakeS3Options({"http://127.0.0.1:7070", ""}, "bucket");
  EXPECT_EQ(options.scheme, "http");
  EXPECT_EQ(options.endpoint_override, "127.0.0.1:7070");
  EXPECT_FALSE(options.force_virtual_addressing);
  EXPECT_EQ(options.region, "us-east-1");
  EXPECT_NE(options.retry_strategy, nullptr);
  EXPECT_EQ(options.credentials_kind, arrow::fs::S3CredentialsKind::Default);
}

TEST_F(S3Test, ExplicitSettingsWinOverTheEnvironment) {
  ::setenv("AWS_ENDPOINT_URL", "http://from-env:1", 1);
  ::setenv("AWS_REGION", "eu-west-3", 1);
  EXPECT_EQ(S3SettingsFromEnvironment({}).endpoint_url, "http://from-env:1");
  EXPECT_EQ(S3SettingsFromEnvironment({}).region, "eu-west-3");
  const S3Settings given = S3SettingsFromEnvironment({"http://given:2", "ap-south-1"});
  EXPECT_EQ(given.endpoint_url, "http://given:2");
  EXPECT_EQ(given.region, "ap-south-1");
  ::unsetenv("AWS_ENDPOINT_URL");
  ::unsetenv("AWS_REGION");
}

TEST_F(S3Test, KeysAreTakenLiterallyAndLabelsComeFromTheParentPrefix) {
  const Location file = ResolveLocation("s3://bucket/Test/Apple Red 1/r_1.jpg");
  EXPECT_EQ(file.fs->type_name(), "s3");
  EXPECT_EQ(file.path, "bucket/Test/Apple Red 1/r_1.jpg");
  EXPECT_EQ(file.uri(), "s3://bucket/Test/Apple Red 1/r_1.jpg");
  EXPECT_EQ(file.parent().name(), "Apple Red 1");
  EXPECT_EQ(ResolveLocation(file.uri()).path, file.path);  // output rows can be fed back in a manifest
  EXPECT_EQ(ResolveLocation("S3://bucket/prefix/").path, "bucket/prefix");
}

TEST_F(S3Test, SharesOneFileSystemPerRegion) {
  const Location a = ResolveLocation("s3://one/a");
  EXPECT_EQ(a.fs, ResolveLocation("s3://two/b").fs);
  const Location paris = ResolveLocation("s3://one/a?region=eu-west-3");
  EXPECT_NE(a.fs, paris.fs);
  EXPECT_EQ(std::static_pointer_cast<arrow::fs::S3FileSystem>(paris.fs)->region(), "eu-west-3");
  EXPECT_EQ(paris.path, "one/a");
}

TEST_F(S3Test, RefusesKeysInTheUriWithoutEchoingThem) {
  try {
    ResolveLocation("s3://AKIDEXAMPLE:s3cr3t@bucket/key");
    FAIL() << "credentials accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("AKIDEXAMPLE"), std::string::npos);
  }
  EXPECT_THROW(ResolveLocation("s3:///key"), UsageError);
}

TEST(TemporaryFile, HoldsTheBytesUntilDestroyed) {
  const std::string bytes = "model bytes";
  std::filesystem::path path;
  {
    TemporaryFile file(".onnx", {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    path = file.path();
    EXPECT_EQ(path.extension(), ".onnx");
    std::ifstream in(path, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace orchard
