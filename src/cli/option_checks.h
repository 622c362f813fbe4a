#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

namespace orchard::cli {

// Option checks with messages a user can act on. CLI11's PositiveNumber and NonNegativeNumber print their
// bound as a 300-digit double ("Value -3 not in range 0.000000 to 17976931348623157..."), and an unsigned
// option without a check takes "-1" as 2^64 - 1 (a --max-pixels of -1 turned the decompression-bomb guard
// off).

// A whole number (decimal digits, an optional leading '-') of at least `min`: "must be a whole number of at
// least 1, got -3".
CLI::Validator WholeNumberAtLeast(std::int64_t min);

// A finite number (any form std::stod reads) greater than `bound`: "must be a number greater than 0, got -1".
CLI::Validator NumberGreaterThan(double bound);

// A finite number in [low, high] (CLI11's Range lets NaN through): "must be a number from 0.5 to 1, got nan".
CLI::Validator NumberBetween(double low, double high);

// A fraction in (0, 1]: "must be a fraction in (0, 1], got 0".
CLI::Validator FractionAboveZero();

}  // namespace orchard::cli
