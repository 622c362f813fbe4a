#include "orchard/pipeline/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "orchard/common/error.h"

namespace orchard {

OutputLock::OutputLock(OutputLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

OutputLock OutputLock::Acquire(const Location& folder) {
  if (folder.fs->type_name() != "local") return {};
  const int fd = ::open(folder.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw IoError(folder.uri() + ": cannot open the output to lock it (" + std::strerror(errno) + ")");
  OutputLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return lock;
  if (errno == EWOULDBLOCK) {
    throw UsageError("output " + folder.uri() +
                     " is in use by another orchard process; run again once it has ended");
  }
  throw IoError(folder.uri() + ": cannot lock the output (" + std::strerror(errno) + ")");
}

}  // namespace orchard
