#pragma once

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace orchard {

// Runs the stages of a pipeline on threads of their own. The first stage that throws stops the others
// through `on_failure` (which closes the queues they wait on), and Wait() rethrows that first exception in
// the caller's thread, so no error is lost in a worker.
class TaskGroup {
 public:
  explicit TaskGroup(std::function<void()> on_failure) : on_failure_(std::move(on_failure)) {}
  ~TaskGroup() { JoinAll(); }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void Spawn(std::function<void()> task) {
    threads_.emplace_back([this, task = std::move(task)] {
      try {
        task();
      } catch (...) {
        Fail(std::current_exception());
      }
    });
  }

  void Wait() {
    JoinAll();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void Fail(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      if (error_) return;
      error_ = error;
    }
    on_failure_();
  }

  void JoinAll() {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  std::function<void()> on_failure_;
  std::mutex mutex_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace orchard
