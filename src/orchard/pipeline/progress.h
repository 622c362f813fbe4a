#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

namespace orchard {

// One look at the job's progress, for a caller that draws it itself (the Python API's progress bar).
struct ProgressSnapshot {
  std::int64_t processed = 0;  // inputs finished, written or failed
  std::int64_t failed = 0;
  std::int64_t total = 0;    // inputs known so far; the final count once known_total
  bool known_total = false;  // false while the listing is still finding inputs
  double elapsed_seconds = 0.0;
  bool final = false;  // the last snapshot, sent once by Finish()
};

// Called from the reporter's own thread (never from the pipeline's), every 250 ms and once at the end.
using ProgressListener = std::function<void(const ProgressSnapshot&)>;

// Counts the job's progress and reports it on `out` from a thread of its own: a redrawn bar with count, rate
// and ETA on a terminal, a plain line every few seconds otherwise (logs, CI). The counters are lock-free
// so the pipeline's hot paths only pay an atomic increment. With a `listener`, the listener gets the progress
// instead of `out` (which still gets Note()s): the caller draws its own bar.
class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, bool interactive, std::string stage, ProgressListener listener = {});
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void AddListed(std::int64_t n = 1) { listed_ += n; }
  void ListingDone() { listing_done_ = true; }
  // The number of inputs, when the listing knows it before handing them all on (gives an ETA early).
  void SetTotal(std::int64_t total) { expected_total_ = total; }
  void AddDone(std::int64_t n = 1) { done_ += n; }
  void AddFailed(std::int64_t n = 1) { failed_ += n; }

  std::int64_t listed() const { return listed_; }
  std::int64_t done() const { return done_; }
  std::int64_t failed() const { return failed_; }
  double elapsed_seconds() const;

  // Prints one line of news (e.g. a skipped symlink loop) without garbling the bar.
  void Note(const std::string& message);

  // Stops the reporting thread and prints the final state once.
  void Finish();

 private:
  void Loop();
  void Print(bool final_line);
  ProgressSnapshot Snapshot(bool final_line) const;

  std::ostream& out_;
  const bool interactive_;
  const std::string stage_;
  const ProgressListener listener_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> listed_{0};
  std::atomic<std::int64_t> expected_total_{0};
  std::atomic<std::int64_t> done_{0};
  std::atomic<std::int64_t> failed_{0};
  std::atomic<bool> listing_done_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool finished_ = false;
  std::thread thread_;
};

// True when `fd` is a terminal: decides between the bar and plain lines.
bool IsTerminal(int fd);

}  // namespace orchard
