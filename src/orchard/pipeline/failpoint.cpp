#include "orchard/pipeline/failpoint.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

namespace orchard {
namespace {

struct FailpointSpec {
  std::string name;
  std::int64_t at = 0;  // 0: disabled
};

FailpointSpec ReadSpec() {
  const char* value = std::getenv("ORCHARD_FAILPOINT");
  if (value == nullptr) return {};
  const std::string text = value;
  const auto colon = text.find(':');
  if (colon == std::string::npos) return {text, 1};
  return {text.substr(0, colon), std::atoll(text.c_str() + colon + 1)};
}

}  // namespace

void Failpoint(std::string_view name) {
  static const FailpointSpec spec = ReadSpec();
  static std::atomic<std::int64_t> passes{0};
  if (spec.at == 0 || name != spec.name) return;
  if (++passes >= spec.at) std::raise(SIGKILL);
}

}  // namespace orchard
