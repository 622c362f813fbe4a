#include "orchard/storage/s3_filesystem.h"

#include <arrow/filesystem/s3fs.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "orchard/common/error.h"
#include "orchard/storage/s3_options.h"

namespace orchard {
namespace {

std::mutex& Mutex() {
  static std::mutex mutex;
  return mutex;
}

std::string& EndpointSetting() {
  static std::string endpoint;
  return endpoint;
}

// One file system per endpoint and region (see ResolveS3Location); guarded by Mutex().
std::map<std::string, std::shared_ptr<arrow::fs::S3FileSystem>>& FileSystems() {
  static std::map<std::string, std::shared_ptr<arrow::fs::S3FileSystem>> file_systems;
  return file_systems;
}

void FinalizeS3AtExit() {
  {
    std::lock_guard lock(Mutex());
    FileSystems().clear();  // their clients go while the SDK is still up
  }
  // Failing here cannot be reported any more; Arrow logs it.
  (void)arrow::fs::EnsureS3Finalized();
}

void EnsureS3Initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    const auto status = arrow::fs::EnsureS3Initialized();
    if (!status.ok()) throw IoError("cannot initialise S3 support: " + status.ToString());
  });
}

// The AWS SDK must be shut down before static destruction, but Arrow keeps its S3 state in function-local
// statics created lazily: by EnsureS3Initialized(), and by the first client and region look-up, inside
// S3FileSystem::Make(). An atexit handler runs before the statics constructed before it was registered
// are destroyed, and after those constructed later, so it is registered only once the first file system
// exists. (Registered earlier, it would finalise through already destroyed objects and abort.)
void FinalizeS3AtExitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(FinalizeS3AtExit); });
}

struct ParsedS3Uri {
  std::string bucket;
  std::string path;  // Arrow's "bucket/key", no trailing slash
  std::string region;
};

// Keys are taken literally, not percent-decoded: the URIs orchard writes into output rows (Location::uri())
// are "s3://" + bucket/key as stored, so they can be fed back in a manifest even when keys hold spaces.
ParsedS3Uri ParseS3Uri(std::string_view uri) {
  std::string_view rest = uri.substr(uri.find("://") + 3);
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos) {
    // Not echoed: the text before '@' is an access key and a secret.
    throw UsageError(
        "s3:// URIs must not carry credentials; orchard uses the AWS credential chain (AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE with a shared credentials file, or an instance role)");
  }
  ParsedS3Uri result;
  constexpr std::string_view kRegion = "?region=";
  if (const auto query = rest.rfind(kRegion); query != std::string_view::npos) {
    result.region = std::string(rest.substr(query + kRegion.size()));
    rest = rest.substr(0, query);
  }
  result.bucket = std::string(rest.substr(0, rest.find('/')));
  if (result.bucket.empty() || result.bucket.find('?') != std::string::npos) {
    throw UsageError("'" + std::string(uri) + "' names no bucket (s3://bucket/key[?region=R])");
  }
  result.path = std::string(rest);
  while (result.path.back() == '/') result.path.pop_back();
  return result;
}

}  // namespace

void SetS3Endpoint(std::string endpoint_url) {
  if (!endpoint_url.empty()) ParseS3Endpoint(endpoint_url);  // fail early, before any work is done
  std::lock_guard lock(Mutex());
  EndpointSetting() = std::move(endpoint_url);
}

Location ResolveS3Location(std::string_view uri) {
  const ParsedS3Uri parsed = ParseS3Uri(uri);
  EnsureS3Initialized();
  std::lock_guard lock(Mutex());
  const S3Settings settings = S3SettingsFromEnvironment({EndpointSetting(), parsed.region});
  // Without a region the bucket decides it, so the bucket is part of the key only then.
  const std::string key = settings.endpoint_url + '\n' + settings.region + '\n' +
                          (settings.region.empty() && settings.endpoint_url.empty() ? parsed.bucket : "");
  auto& fs = FileSystems()[key];
  if (fs == nullptr) {
    auto made = arrow::fs::S3FileSystem::Make(MakeS3Options(settings, parsed.bucket));
    if (!made.ok()) throw IoError("s3://" + parsed.path + ": " + made.status().ToString());
    fs = *made;
    FinalizeS3AtExitOnce();
  }
  return {fs, parsed.path};
}

}  // namespace orchard
