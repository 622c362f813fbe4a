#pragma once

// Include after served_model.h (or anything reaching Eigen): httplib.h brings resolv.h's `_res` macro, which
// breaks Eigen's headers when they come after it.
#include <httplib.h>

#include <chrono>

namespace orchard {

// cpp-httplib's server with a total deadline on reading each request's head (request line and headers).
// httplib's read timeout bounds each wait for bytes, not the whole head: a client sending a header byte every
// few seconds (slowloris) held a connection thread forever, and --max-connections of them starve the service.
// httplib has no hook for this (its socket options, pre-routing handler and logger all run before the first
// byte or after the head), but its per-connection loop is a virtual member: this server replaces that loop
// and the socket stream (the same keep-alive, read and write timeouts) and gives every read of a head at most
// the time left to its deadline. The head runs from its first byte (the keep-alive wait before it is bounded
// by the idle timeout) to the end of its headers; a head not complete by then gets no answer and its
// connection is closed. The body is read as before (read timeout per wait, size limits in the handlers).
class HeadDeadlineServer : public httplib::Server {
 public:
  explicit HeadDeadlineServer(std::chrono::milliseconds header_timeout) : header_timeout_(header_timeout) {}

  // Called from a handler (or the pre-routing handler): the connection the calling thread serves is closed
  // once the current answer is written. httplib keeps a connection open unless the *request* said "close", so
  // an answer given before its body was read (a 411 or 413, which says "Connection: close") would otherwise
  // let the unread body bytes be parsed as the client's next request.
  static void CloseAfterAnswer();

 private:
  // httplib's loop (keep-alive count and timeout, then process_request) over a DeadlineStream, on a socket
  // with TCP_NODELAY.
  bool process_and_close_socket(socket_t sock) override;

  const std::chrono::milliseconds header_timeout_;
};

}  // namespace orchard
