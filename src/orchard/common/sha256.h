#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace orchard {

// Lower-case hex SHA-256 of `bytes` (OpenSSL).
std::string Sha256Hex(std::span<const std::uint8_t> bytes);

}  // namespace orchard
