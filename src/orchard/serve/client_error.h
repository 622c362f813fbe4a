#pragma once

#include <string>

namespace orchard {

// A request the client got wrong: the HTTP status, the reason label of orchard_http_errors_total, and the
// message of the JSON error body. Handlers throw it; the service answers it.
struct ClientError {
  int status;
  std::string reason;  // metric label
  std::string message;
};

}  // namespace orchard
