#pragma once

#include <string>
#include <string_view>

namespace orchard {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Returns `text` with every byte that is not part of a well-formed UTF-8 sequence written as the four
// characters \xHH (lowercase hex); valid text, including a literal backslash, is returned unchanged.
//
// Why: Linux file names are bytes, but Arrow/Parquet string columns must hold UTF-8 (pyarrow and pandas fail
// to read them otherwise), so a path or label is escaped where it becomes a column value. This is exactly
// Python's `os.fsencode(path).decode("utf-8", "backslashreplace")`. The escaped form names the file for a
// human; it is not reversible when a valid name itself contains the text "\x" followed by two hex digits.
std::string EscapeInvalidUtf8(std::string_view text);

}  // namespace orchard
