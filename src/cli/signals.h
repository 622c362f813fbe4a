#pragma once

#include <atomic>

namespace orchard::cli {

// Set by the first SIGINT/SIGTERM; the job then stops cleanly. A second signal kills the process as usual.
const std::atomic<bool>& InstallStopHandler();

}  // namespace orchard::cli
