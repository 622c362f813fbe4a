#pragma once

#include <cstdint>
#include <string_view>

namespace orchard {

// Crash injection for the resume tests: with ORCHARD_FAILPOINT=<name>:<n> in the environment, the process
// kills itself with SIGKILL when failpoint <name> is passed for the n-th time, as a power cut or the OOM
// killer would. Without the variable this is one relaxed load of a cached flag.
void Failpoint(std::string_view name);

}  // namespace orchard
