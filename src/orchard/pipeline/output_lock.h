#pragma once

#include "orchard/storage/location.h"

namespace orchard {

// An exclusive advisory lock (flock(2)) on a local output folder, held while a job writes there: a second
// `orchard run` on the same output would otherwise take the running job's files for an unfinished job's,
// delete its parts while resuming, and leave a _SUCCESS naming files that no longer exist. Object stores
// offer no lock: there, one writer per output is the user's rule (README, "Resume"). Move-only; released
// when destroyed (or when the process ends, however it ends).
class OutputLock {
 public:
  OutputLock() = default;
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();

  // Locks the existing folder `folder`; an unheld lock for a folder on an object store. Throws UsageError
  // when another process holds it, IoError (with errno's reason) when the folder cannot be opened or locked.
  static OutputLock Acquire(const Location& folder);

  bool held() const { return fd_ >= 0; }

 private:
  explicit OutputLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace orchard
