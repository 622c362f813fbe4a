#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace orchard {

// httplib's task queue with a cap: `threads` connections are served at once, one thread each, and the
// accept loop waits (enqueue blocks) while all are busy, so further connections wait in the kernel's listen
// backlog instead of piling up in the process. httplib's own ThreadPool queues accepted sockets without
// bound.
class ConnectionPool : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(std::size_t threads);
  ~ConnectionPool() override;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Blocks until a thread is free to take the connection.
  void enqueue(std::function<void()> connection) override;
  // Serves what was accepted, then joins the threads.
  void shutdown() override;

 private:
  void Work();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest exists
};

}  // namespace orchard
