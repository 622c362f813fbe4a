#pragma once

#include <mutex>
#include <ostream>
#include <string>

namespace orchard {

// The service's log (stderr): whole lines from any thread, never interleaved.
class LogSink {
 public:
  explicit LogSink(std::ostream& out) : out_(out) {}
  void Line(const std::string& line) {
    std::lock_guard lock(mutex_);
    out_ << line << std::endl;
  }

 private:
  std::ostream& out_;
  std::mutex mutex_;
};

}  // namespace orchard
