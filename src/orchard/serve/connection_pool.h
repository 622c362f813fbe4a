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
  // Two conditions, each notified one waiter at a time: with one shared condition and notify_all, every new
  // connection woke all idle threads (1,100 with deploy/vm's --max-connections) to fight for the mutex,
  // ~20 ms per connection on 2 cores.
  std::condition_variable work_queued_;  // idle threads wait here for a connection
  std::condition_variable thread_idle_;  // enqueue waits here for an idle thread
  std::deque<std::function<void()>> queue_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest exists
};

}  // namespace orchard
