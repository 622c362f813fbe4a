#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "orchard/recognition/recognizer.h"

namespace orchard {

// The threads that decode and preprocess request images: at most `threads` images are decoded at once,
// whatever the number of connections, and the decoders' per-thread scratch buffers (resize rows) exist in
// these threads only. This is what bounds the decoding term of the service's memory formula (README,
// "serve").
class DecodePool {
 public:
  explicit DecodePool(std::size_t threads);  // 0: one per core
  ~DecodePool();                             // finishes the queued work
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;

  // Runs `prepare` on a pool thread and returns its result, or rethrows what it threw. Blocks the caller.
  PreparedImage Run(std::function<PreparedImage()> prepare);

 private:
  void Work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<PreparedImage()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest exists
};

}  // namespace orchard
