#include "cli/option_checks.h"

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace orchard::cli {
namespace {

// `text` as a whole number, or nothing when it is not one (or does not fit in 64 bits).
std::optional<std::int64_t> WholeNumber(const std::string& text) {
  if (text.empty() || text.find_first_not_of("-0123456789") != std::string::npos ||
      text.find('-', 1) != std::string::npos) {
    return std::nullopt;
  }
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    return used == text.size() ? std::optional<std::int64_t>(value) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> Number(const std::string& text) {
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    return used == text.size() && std::isfinite(value) ? std::optional<double>(value) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// 0.5, 1, 1e+06: a bound as a user reads it.
std::string Shown(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

}  // namespace

CLI::Validator NumberBetween(double low, double high) {
  const std::string wanted = "must be a number from " + Shown(low) + " to " + Shown(high);
  return CLI::Validator(
      [low, high, wanted](std::string& text) -> std::string {
        const auto value = Number(text);
        return value && *value >= low && *value <= high ? "" : wanted + ", got " + text;
      },
      "[" + Shown(low) + "," + Shown(high) + "]");
}

CLI::Validator WholeNumberAtLeast(std::int64_t min) {
  const std::string wanted = "must be a whole number of at least " + std::to_string(min);
  return CLI::Validator(
      [min, wanted](std::string& text) -> std::string {
        const auto value = WholeNumber(text);
        return value && *value >= min ? "" : wanted + ", got " + text;
      },
      "INT>=" + std::to_string(min));
}

CLI::Validator NumberGreaterThan(double bound) {
  const std::string shown = Shown(bound);
  const std::string wanted = "must be a number greater than " + shown;
  return CLI::Validator(
      [bound, wanted](std::string& text) -> std::string {
        const auto value = Number(text);
        return value && *value > bound ? "" : wanted + ", got " + text;
      },
      "NUMBER>" + shown);
}

CLI::Validator FractionAboveZero() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto value = Number(text);
        return value && *value > 0.0 && *value <= 1.0 ? "" : "must be a fraction in (0, 1], got " + text;
      },
      "(0,1]");
}

}  // namespace orchard::cli
