#include "orchard/serve/inference_batcher.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace orchard {

InferenceBatcher::InferenceBatcher(Recognizer& recognizer, std::size_t max_batch,
                                   std::chrono::microseconds max_wait)
    : recognizer_(recognizer),
      max_batch_(std::max<std::size_t>(1, max_batch)),
      max_wait_(max_wait),
      stats_(EmptyStats()),
      thread_([this] { Loop(); }) {}

InferenceBatcher::~InferenceBatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (auto& pending : queue_) {
    pending.result.set_exception(std::make_exception_ptr(std::runtime_error("the server is stopping")));
  }
}

InferenceBatcher::Arrival::Arrival(Arrival&& other) noexcept
    : batcher_(other.batcher_), images_(std::exchange(other.images_, 0)) {}

InferenceBatcher::Arrival::~Arrival() {
  if (images_ == 0) return;
  {
    std::lock_guard lock(batcher_->mutex_);
    batcher_->Withdraw(*this);
  }
  batcher_->wake_.notify_all();  // a batch waiting for these images need not wait any longer
}

InferenceBatcher::Arrival InferenceBatcher::Expect(std::size_t images) {
  std::lock_guard lock(mutex_);
  expected_ += images;
  return Arrival(*this, images);
}

void InferenceBatcher::Withdraw(Arrival& arrival) {
  expected_ -= std::min(expected_, std::exchange(arrival.images_, 0));
}

Recognition InferenceBatcher::Submit(PreparedImage image, const RecognizeOptions& options, Arrival& arrival) {
  std::vector<PreparedImage> images;
  images.push_back(std::move(image));
  return std::move(SubmitAll(std::move(images), options, arrival).front());
}

std::vector<Recognition> InferenceBatcher::SubmitAll(std::vector<PreparedImage> images,
                                                     const RecognizeOptions& options, Arrival& arrival,
                                                     Traffic traffic) {
  std::vector<std::future<Recognition>> futures;
  {
    std::lock_guard lock(mutex_);
    Withdraw(arrival);
    if (stopping_) throw std::runtime_error("the server is stopping");
    for (auto& image : images) {
      queue_.push_back({std::move(image), options, {}, traffic});
      futures.push_back(queue_.back().result.get_future());
    }
  }
  wake_.notify_all();
  std::vector<Recognition> results;
  for (auto& future : futures) results.push_back(future.get());
  return results;
}

InferenceBatcher::Stats InferenceBatcher::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

InferenceBatcher::Stats InferenceBatcher::EmptyStats() const {
  Stats empty{0, 0, std::vector<std::uint64_t>(max_batch_ + 1, 0), {}};
  const auto& compiled = recognizer_.model().compiled_batches();
  for (const std::size_t batch : compiled) empty.by_compiled_batch[batch] = 0;
  return empty;
}

void InferenceBatcher::Loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    // A lone request waits at most max_wait for company, and a batch at most kArrivalWait for the images
    // being decoded for requests already here; a full batch goes at once.
    const auto opened = std::chrono::steady_clock::now();
    const auto full = [this] { return stopping_ || queue_.size() >= max_batch_; };
    wake_.wait_until(lock, opened + max_wait_, full);
    wake_.wait_until(lock, opened + kArrivalWait, [&] { return full() || expected_ == 0; });
    std::deque<Pending> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    Count(batch);
    lock.unlock();
    Run(batch);
    lock.lock();
  }
}

void InferenceBatcher::Count(const std::deque<Pending>& batch) {
  const auto requests =
      static_cast<std::size_t>(std::ranges::count(batch, Traffic::kRequest, &Pending::traffic));
  if (requests == 0) return;
  ++stats_.batches;
  stats_.images += requests;
  ++stats_.by_size[requests];
  ++stats_.by_compiled_batch[recognizer_.model().CompiledBatchFor(batch.size())];
}

void InferenceBatcher::Run(std::deque<Pending>& batch) {
  // One model call serves the most demanding request; each then gets what it asked for.
  RecognizeOptions options{0, false};
  std::vector<const PreparedImage*> images;
  for (const auto& pending : batch) {
    options.top_k = std::max(options.top_k, pending.options.top_k);
    options.keep_features = options.keep_features || pending.options.keep_features;
    images.push_back(&pending.image);
  }
  try {
    auto results = recognizer_.Classify(images, options);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& result = results[i];
      if (result.top_k.size() > batch[i].options.top_k) result.top_k.resize(batch[i].options.top_k);
      if (!batch[i].options.keep_features) {
        result.features.clear();
        result.pca.clear();
      }
      batch[i].result.set_value(std::move(result));
    }
  } catch (...) {
    for (auto& pending : batch) pending.result.set_exception(std::current_exception());
  }
}

}  // namespace orchard
