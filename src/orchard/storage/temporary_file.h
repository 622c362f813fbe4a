#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace orchard {

// A private local file holding `bytes`, removed when the object is destroyed: for libraries that only read
// local paths (OpenVINO's frontends) given data from object storage. `suffix` keeps the extension those
// libraries pick their reader by. Throws IoError when it cannot be written.
class TemporaryFile {
 public:
  TemporaryFile(std::string_view suffix, std::span<const std::uint8_t> bytes);
  ~TemporaryFile();
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace orchard
