#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "orchard/recognition/recognizer.h"

namespace orchard {

// Gathers concurrent requests into model batches: the first waiting image opens a batch, which runs when it
// holds max_batch images or max_wait has passed. One inference thread owns the model (Classify is not
// thread-safe, and batching is what makes a CPU model fast); decoding stays in the callers' threads.
class InferenceBatcher {
 public:
  InferenceBatcher(Recognizer& recognizer, std::size_t max_batch, std::chrono::microseconds max_wait);
  ~InferenceBatcher();  // finishes the batch in flight; later submissions fail
  InferenceBatcher(const InferenceBatcher&) = delete;
  InferenceBatcher& operator=(const InferenceBatcher&) = delete;

  // Blocks until the image's batch has run. Thread-safe. Throws std::runtime_error when stopped or when the
  // model failed on the batch.
  Recognition Submit(PreparedImage image, const RecognizeOptions& options);
  // The same for several images of one request, queued together so that they can share a batch; results in
  // the images' order.
  std::vector<Recognition> SubmitAll(std::vector<PreparedImage> images, const RecognizeOptions& options);

  // Sizes of the batches run so far, for the metrics: count and sum, a histogram by size, and the model calls
  // by the compiled batch they ran on (EmbeddingModel::CompiledBatchFor; 0: a dynamic batch).
  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t images = 0;
    std::vector<std::uint64_t> by_size;                      // index = batch size (0 unused)
    std::map<std::size_t, std::uint64_t> by_compiled_batch;  // every compiled batch, 0 when unused
  };
  Stats stats() const;
  // Forgets the batches run so far (the warm-up's, which are not traffic).
  void ResetStats();

 private:
  struct Pending {
    PreparedImage image;
    RecognizeOptions options;
    std::promise<Recognition> result;
  };
  void Loop();
  void Run(std::deque<Pending>& batch);
  Stats EmptyStats() const;

  Recognizer& recognizer_;
  const std::size_t max_batch_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace orchard
