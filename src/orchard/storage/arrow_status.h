#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <string>
#include <string_view>
#include <utility>

#include "orchard/common/error.h"

namespace orchard {

// Arrow reports failures as Status/Result; orchard's boundaries use exceptions. `context` names the object
// (a path or URI) so the message says what failed, not only why.
inline void ThrowIfError(const arrow::Status& status, std::string_view context) {
  if (status.ok()) return;
  std::string message = std::string(context) + ": " + status.ToString();
  // S3 answers HEAD requests without a body, so a refused key shows up only as "ACCESS_DENIED"; say what
  // to check. (Arrow's messages never contain the secret key, nor does this hint.)
  if (message.find("ACCESS_DENIED") != std::string::npos ||
      message.find("InvalidAccessKeyId") != std::string::npos ||
      message.find("SignatureDoesNotMatch") != std::string::npos) {
    message +=
        " (check the S3 credentials, e.g. AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and "
        "the permissions on the bucket)";
  }
  throw IoError(message);
}

template <class T>
T ValueOrThrow(arrow::Result<T> result, std::string_view context) {
  ThrowIfError(result.status(), context);
  return std::move(result).ValueUnsafe();
}

}  // namespace orchard
