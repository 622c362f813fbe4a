#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

namespace orchard {

// A counting semaphore on bytes: a stage takes the size of what it is about to hold before holding it and
// gives it back when it is done, so that what all its threads hold together never exceeds `capacity`,
// whatever the sizes of the items. Takers are served in turn, so a large item is not starved by small ones.
// Close() wakes every waiter and refuses further takes (cancellation).
class ByteBudget {
 public:
  explicit ByteBudget(std::int64_t capacity) : capacity_(capacity) {}

  // What a successful Take() holds; gives it back on destruction.
  class Lease {
   public:
    Lease() = default;
    Lease(ByteBudget* budget, std::int64_t bytes) : budget_(budget), bytes_(bytes) {}
    Lease(Lease&& other) noexcept
        : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    Lease& operator=(Lease&& other) noexcept {
      std::swap(budget_, other.budget_);
      std::swap(bytes_, other.bytes_);
      return *this;
    }
    ~Lease() {
      if (budget_) budget_->Give(bytes_);
    }

   private:
    ByteBudget* budget_ = nullptr;
    std::int64_t bytes_ = 0;
  };

  // Waits until `bytes` fit (more than the whole capacity is allowed when nothing else is held, so that a
  // caller's own size limit, not this budget, decides what is too large). Returns an empty lease once closed.
  Lease Take(std::int64_t bytes) {
    std::unique_lock turn(turn_);  // one taker waits at a time: first come, first served
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return closed_ || held_ == 0 || held_ + bytes <= capacity_; });
    if (closed_) return {};
    held_ += bytes;
    return {this, bytes};
  }

  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    freed_.notify_all();
  }

 private:
  void Give(std::int64_t bytes) {
    std::lock_guard lock(mutex_);
    held_ -= bytes;
    freed_.notify_all();
  }

  const std::int64_t capacity_;
  std::mutex turn_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::int64_t held_ = 0;
  bool closed_ = false;
};

}  // namespace orchard
