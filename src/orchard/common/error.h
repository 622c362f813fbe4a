#pragma once

#include <stdexcept>
#include <string>

namespace orchard {

// Errors cross module boundaries as exceptions of these types. The pipeline turns an InputError about one
// image into an error row and goes on; the CLI maps the others to exit codes (see cli/exit_codes.h).

// The options or arguments are wrong; nothing was processed.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Storage could not be read or written (missing folder, permission, network).
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One input cannot be processed (corrupt, truncated, unsupported, too large). The message names the reason;
// the caller knows and reports which input it was.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model cannot be loaded, cut or compiled.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace orchard

namespace orchard {

// The job was asked to stop (Ctrl-C, SIGTERM); what was finished is kept, no _SUCCESS is written.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("interrupted") {}
};

}  // namespace orchard
