#include "orchard/pipeline/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace orchard {
namespace {

std::string FormatDuration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  return text;
}

std::string Bar(double fraction, int width) {
  const int filled = static_cast<int>(fraction * width);
  return std::string(filled, '#') + std::string(width - filled, '.');
}

}  // namespace

bool IsTerminal(int fd) { return isatty(fd) == 1; }

ProgressReporter::ProgressReporter(std::ostream& out, bool interactive, std::string stage,
                                   ProgressListener listener)
    : out_(out),
      interactive_(interactive),
      stage_(std::move(stage)),
      listener_(std::move(listener)),
      thread_([this] { Loop(); }) {}

ProgressReporter::~ProgressReporter() { Finish(); }

double ProgressReporter::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressReporter::Finish() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  wake_.notify_all();
  thread_.join();
  Print(true);
}

void ProgressReporter::Note(const std::string& message) {
  std::lock_guard lock(mutex_);  // the reporting thread prints the bar while holding it
  out_ << (interactive_ ? "\r\033[2K" : "") << "orchard: " << message << "\n" << std::flush;
}

void ProgressReporter::Loop() {
  const auto period = interactive_ || listener_ ? std::chrono::milliseconds(250) : std::chrono::seconds(10);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return finished_; })) Print(false);
}

ProgressSnapshot ProgressReporter::Snapshot(bool final_line) const {
  ProgressSnapshot s;
  s.elapsed_seconds = elapsed_seconds();
  s.failed = failed_;
  s.processed = done_ + s.failed;
  s.total = listing_done_ ? listed_.load() : std::max(listed_.load(), expected_total_.load());
  s.known_total = (listing_done_ || expected_total_ > 0) && s.total > 0;
  s.final = final_line;
  return s;
}

void ProgressReporter::Print(bool final_line) {
  const ProgressSnapshot s = Snapshot(final_line);
  if (listener_) {
    listener_(s);
    return;
  }
  const double seconds = s.elapsed_seconds;
  const auto processed = s.processed;
  const double rate = seconds > 0 ? processed / seconds : 0.0;
  const auto total = s.total;
  const bool known_total = s.known_total;
  const double fraction = known_total ? static_cast<double>(processed) / total : 0.0;

  char line[256];
  std::snprintf(line, sizeof line, "%s %lld/%lld%s images, %lld failed, %.1f images/s", stage_.c_str(),
                static_cast<long long>(processed), static_cast<long long>(total), known_total ? "" : "+",
                static_cast<long long>(s.failed), rate);
  std::string text = line;
  if (known_total && rate > 0 && !final_line) text += ", ETA " + FormatDuration((total - processed) / rate);
  text += ", elapsed " + FormatDuration(seconds);
  if (interactive_) {
    out_ << "\r\033[2K[" << Bar(fraction, 30) << "] " << text << (final_line ? "\n" : "") << std::flush;
  } else {
    out_ << text << "\n" << std::flush;
  }
}

}  // namespace orchard
