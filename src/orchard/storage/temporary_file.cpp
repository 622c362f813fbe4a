#include "orchard/storage/temporary_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "orchard/common/error.h"

namespace orchard {

TemporaryFile::TemporaryFile(std::string_view suffix, std::span<const std::uint8_t> bytes) {
  std::error_code error;
  auto directory = std::filesystem::temp_directory_path(error);
  if (error) directory = "/tmp";
  std::string name = (directory / "orchard-XXXXXX").string() + std::string(suffix);
  // mkstemps creates the file exclusively with mode 0600, so no other user can swap or read it.
  const int fd = mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0)
    throw IoError("cannot create a temporary file in " + directory.string() + ": " + std::strerror(errno));
  path_ = name;
  std::size_t written = 0;
  while (written < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      std::filesystem::remove(path_, error);
      throw IoError("cannot write " + name + ": " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    std::filesystem::remove(path_, error);
    throw IoError("cannot write " + name + ": " + reason);
  }
}

TemporaryFile::~TemporaryFile() {
  std::error_code ignored;  // nothing useful to do about a file that cannot be removed from /tmp
  std::filesystem::remove(path_, ignored);
}

}  // namespace orchard
