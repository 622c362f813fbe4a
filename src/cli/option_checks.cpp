#include "cli/option_checks.h"

#include <cmath>
#include <limits>
#include <optional>
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
    return used == text.size() && !std::isnan(value) ? std::optional<double>(value) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

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
  std::string shown = std::to_string(bound);
  shown.erase(shown.find_last_not_of('0') + 1);
  if (shown.ends_with('.')) shown.pop_back();
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
