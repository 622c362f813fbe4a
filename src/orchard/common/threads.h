#pragma once

#include <algorithm>
#include <thread>

namespace orchard {

// `requested` threads, or one per core (at least one: hardware_concurrency may not know) when it is 0.
inline int ThreadsOrCores(int requested = 0) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace orchard
