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
// holds max_batch images or max_wait has passed, and meanwhile also waits (at most kArrivalWait) for images
// that requests already in the service announced and are still decoding (Expect). Under load the batches
// so fill up with the images decoded while the previous batch ran, while a lone request, with nothing on
// its way, never waits. One inference thread owns the model (Classify is not thread-safe, and batching is
// what makes a CPU model fast); decoding stays in the callers' threads.
class InferenceBatcher {
 public:
  // The longest a batch that is not full waits for announced images: a few decodes of a photo of the
  // sample's size (~0.3 ms each), short against a large photo's decode, which a batch does not wait out.
  static constexpr std::chrono::microseconds kArrivalWait{2000};

  InferenceBatcher(Recognizer& recognizer, std::size_t max_batch, std::chrono::microseconds max_wait);
  ~InferenceBatcher();  // finishes the batch in flight; later submissions fail
  InferenceBatcher(const InferenceBatcher&) = delete;
  InferenceBatcher& operator=(const InferenceBatcher&) = delete;

  // Images a request will submit once decoded, announced before decoding starts; withdrawn when submitted
  // (the batcher then counts them as queued) or, if the request fails first, when destroyed. Move-only.
  class Arrival {
   public:
    Arrival(Arrival&& other) noexcept;
    Arrival& operator=(Arrival&&) = delete;
    ~Arrival();

   private:
    friend class InferenceBatcher;
    Arrival(InferenceBatcher& batcher, std::size_t images) : batcher_(&batcher), images_(images) {}
    InferenceBatcher* batcher_;
    std::size_t images_;  // 0 once withdrawn
  };
  // Announces `images` images that the caller is about to decode and submit. Thread-safe.
  Arrival Expect(std::size_t images);

  // Whether submitted images are counted in stats(): a request's are, the service's own warm-up images are
  // not (requests answered while the warm-up runs share its batches and are counted).
  enum class Traffic { kRequest, kWarmUp };

  // Blocks until the image's batch has run; withdraws `arrival` as the image is queued. Thread-safe. Throws
  // std::runtime_error when stopped or when the model failed on the batch.
  Recognition Submit(PreparedImage image, const RecognizeOptions& options, Arrival& arrival);
  // The same for several images of one request, queued together so that they can share a batch; results in
  // the images' order.
  std::vector<Recognition> SubmitAll(std::vector<PreparedImage> images, const RecognizeOptions& options,
                                     Arrival& arrival, Traffic traffic = Traffic::kRequest);

  // The batches that held requests' images so far, for the metrics: count and sum of those images, a
  // histogram by their number, and the model calls by the compiled batch they ran on
  // (EmbeddingModel::CompiledBatchFor). Warm-up images are left out (Traffic::kWarmUp): a batch of warm-up
  // images only is not counted.
  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t images = 0;
    std::vector<std::uint64_t> by_size;                      // index = batch size (0 unused)
    std::map<std::size_t, std::uint64_t> by_compiled_batch;  // every compiled batch, 0 when unused
  };
  Stats stats() const;

 private:
  struct Pending {
    PreparedImage image;
    RecognizeOptions options;
    std::promise<Recognition> result;
    Traffic traffic;
  };
  void Loop();
  void Count(const std::deque<Pending>& batch);  // under mutex_
  void Run(std::deque<Pending>& batch);
  void Withdraw(Arrival& arrival);  // under mutex_
  Stats EmptyStats() const;

  Recognizer& recognizer_;
  const std::size_t max_batch_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::size_t expected_ = 0;  // images announced (Expect) and not yet queued or given up
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace orchard
