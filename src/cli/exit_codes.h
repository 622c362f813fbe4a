#pragma once

namespace orchard::cli {

// Documented in the README and in `orchard --help`.
enum ExitCode : int {
  kExitSuccess = 0,         // every input processed
  kExitInternalError = 1,   // a bug or an unexpected failure
  kExitUsageError = 2,      // bad options or arguments; nothing was done
  kExitIoError = 3,         // input, output or model could not be read or written
  kExitPartialFailure = 4,  // the job finished, but some inputs became error rows
  kExitInterrupted = 130,   // stopped by Ctrl-C / SIGTERM; the output has no _SUCCESS
};

}  // namespace orchard::cli
