#include "cli/signals.h"

#include <csignal>

namespace orchard::cli {
namespace {

std::atomic<bool> stop_requested{false};

extern "C" void OnStopSignal(int signal_number) {
  stop_requested = true;
  std::signal(signal_number, SIG_DFL);
}

}  // namespace

const std::atomic<bool>& InstallStopHandler() {
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  return stop_requested;
}

}  // namespace orchard::cli
