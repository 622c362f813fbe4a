#include "orchard/serve/connection_pool.h"

namespace orchard {

ConnectionPool::ConnectionPool(std::size_t threads) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i)
    threads_.emplace_back([this] { Work(); });
}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::enqueue(std::function<void()> connection) {
  std::unique_lock lock(mutex_);
  // A connection is taken only by an idle thread: never more queued than threads waiting for work.
  thread_idle_.wait(lock, [this] { return queue_.size() < idle_ || stopping_; });
  queue_.push_back(std::move(connection));
  work_queued_.notify_one();
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  work_queued_.notify_all();
  thread_idle_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

void ConnectionPool::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    thread_idle_.notify_one();  // an accept waiting for a free thread may go on
    work_queued_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    --idle_;
    if (queue_.empty()) return;  // stopping, nothing left to serve
    auto connection = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    connection();
    lock.lock();
  }
}

}  // namespace orchard
