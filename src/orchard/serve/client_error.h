#pragma once

#include <string>

namespace orchard {

// A request the client got wrong: the HTTP status, the reason label of orchard_http_errors_total, and the
// message of the JSON error body. Handlers throw it; the service answers it.
struct ClientError {
  int status;
  std::string reason;  // metric label
  std::string message;
  // The body was not read to its end (over the limit, or malformed): the connection is closed after the
  // answer, so that the bytes left are not taken for the client's next request.
  bool body_unread = false;
};

}  // namespace orchard
