#include "orchard/common/utf8.h"

#include <cstdint>

namespace orchard {
namespace {

bool InRange(std::uint8_t byte, std::uint8_t low, std::uint8_t high) { return byte >= low && byte <= high; }

// The length of the well-formed sequence starting at text[i], or 0 when there is none (Unicode 15, table
// 3-7).
std::size_t SequenceLength(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<std::uint8_t>(text[i + k]); };
  const std::uint8_t lead = at(0);
  if (lead < 0x80) return 1;
  // The range allowed for the second byte depends on the lead, which rules out overlong forms, surrogates and
  // code points above U+10FFFF; later bytes are plain continuation bytes.
  std::size_t length = 0;
  std::uint8_t low = 0x80, high = 0xBF;
  if (InRange(lead, 0xC2, 0xDF)) {
    length = 2;
  } else if (InRange(lead, 0xE0, 0xEF)) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (InRange(lead, 0xF0, 0xF4)) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size() || !InRange(at(1), low, high)) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (!InRange(at(k), 0x80, 0xBF)) return 0;
  }
  return length;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string EscapeInvalidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);  // the common case: no copy-by-sequence
  static constexpr char kHex[] = "0123456789abcdef";
  std::string escaped;
  escaped.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = SequenceLength(text, i);
    if (length > 0) {
      escaped.append(text.substr(i, length));
      i += length;
      continue;
    }
    const auto byte = static_cast<std::uint8_t>(text[i++]);
    escaped += "\\x";
    escaped += kHex[byte >> 4];
    escaped += kHex[byte & 0xF];
  }
  return escaped;
}

}  // namespace orchard
