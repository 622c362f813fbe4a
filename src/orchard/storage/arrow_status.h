#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

#include "orchard/common/error.h"

namespace orchard {

// Arrow reports failures as Status/Result; orchard's boundaries use exceptions. `context` names the object
// (a path or URI) so the message says what failed, not only why.
inline void ThrowIfError(const arrow::Status& status, std::string_view context) {
  if (!status.ok()) throw IoError(std::string(context) + ": " + status.ToString());
}

template <class T>
T ValueOrThrow(arrow::Result<T> result, std::string_view context) {
  ThrowIfError(result.status(), context);
  return std::move(result).ValueUnsafe();
}

}  // namespace orchard
