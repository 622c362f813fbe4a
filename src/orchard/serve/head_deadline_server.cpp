#include "orchard/serve/head_deadline_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

namespace orchard {
namespace {

using Clock = std::chrono::steady_clock;

// Set by CloseAfterAnswer for the request the thread is serving; read by its connection loop.
thread_local bool close_after_answer = false;

// Waits until `sock` is ready for `events` or `timeout` has passed; true when it is ready (or has an error
// or end of stream to report, which the following recv or send then returns).
bool WaitFor(socket_t sock, short events, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  pollfd fd{sock, events, 0};
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int ready = ::poll(&fd, 1, static_cast<int>(std::clamp<long long>(left, 0, INT_MAX)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
    if (ready == 0 && Clock::now() >= deadline) return false;
  }
}

Clock::duration Timeout(time_t seconds, time_t microseconds) {
  return std::chrono::seconds(seconds) + std::chrono::microseconds(microseconds);
}

// The address of either end of a connected socket (IPv4 or IPv6), as httplib's streams give it.
void SocketAddress(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? ::getpeername(sock, generic, &length) : ::getsockname(sock, generic, &length)) != 0) return;
  std::array<char, NI_MAXHOST> host{};
  if (::getnameinfo(generic, length, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) == 0)
    ip = host.data();
  port = ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

// One connection's socket for all its requests (so bytes of a pipelined next request read into the buffer are
// kept). While a head is being read, no read waits past its deadline and none starts after it.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, Clock::duration read_timeout, Clock::duration write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  // Waits up to `idle` for the next request's first byte (in slices, so that a stopping server is noticed);
  // false when none came or the server stopped.
  bool AwaitRequest(Clock::duration idle, const std::atomic<socket_t>& listening) const {
    const auto deadline = Clock::now() + idle;
    while (listening != INVALID_SOCKET && Clock::now() < deadline) {
      const auto slice = std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - Clock::now());
      if (begin_ < end_ || WaitFor(sock_, POLLIN, slice)) return true;
    }
    return false;
  }
  void StartHead(Clock::time_point deadline) { head_deadline_ = deadline; }
  void EndHead() { head_deadline_.reset(); }

  bool is_readable() const override {
    if (HeadExpired()) return false;
    const auto wait =
        head_deadline_ ? std::min(read_timeout_, *head_deadline_ - Clock::now()) : read_timeout_;
    return begin_ < end_ || WaitFor(sock_, POLLIN, wait);
  }
  bool is_writable() const override { return WaitFor(sock_, POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!is_readable()) return -1;
    if (begin_ == end_) {
      // A large read (a body) goes straight to the caller; the head's byte-by-byte reads come from the
      // buffer.
      if (size >= buffer_.size()) return Receive(ptr, size);
      const ssize_t received = Receive(buffer_.data(), buffer_.size());
      if (received <= 0) return received;
      begin_ = 0;
      end_ = static_cast<std::size_t>(received);
    }
    const std::size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  // Nothing is written once a head's deadline passed: httplib would answer the unfinished head 400 and keep
  // the connection for a next request, which the slow client would start at once.
  ssize_t write(const char* ptr, size_t size) override {
    if (HeadExpired() || !is_writable()) return -1;
    ssize_t sent = 0;
    do {
      sent = ::send(sock_, ptr, size, MSG_NOSIGNAL);  // a closed peer is an error, not a SIGPIPE
    } while (sent < 0 && errno == EINTR);
    return sent;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(sock_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(sock_, false, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  bool HeadExpired() const { return head_deadline_ && Clock::now() >= *head_deadline_; }
  ssize_t Receive(char* into, std::size_t size) const {
    ssize_t received = 0;
    do {
      received = ::recv(sock_, into, size, 0);
    } while (received < 0 && errno == EINTR);
    return received;
  }

  const socket_t sock_;
  const Clock::duration read_timeout_;
  const Clock::duration write_timeout_;
  std::optional<Clock::time_point> head_deadline_;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;  // unread bytes: buffer_[begin_, end_)
  std::size_t end_ = 0;
};

// How long a connection closed with its request's body unread goes on taking (and dropping) what the client
// still sends.
constexpr auto kLingerTime = std::chrono::seconds(2);

// Ends a connection whose client may still be sending a body nobody reads: closing with unread bytes makes
// the kernel reset the connection, which can destroy the answer before the client has read it. So the
// answer is followed by a FIN, and what arrives is read and dropped until the client closes its side or
// kLingerTime has passed (nginx's "lingering close").
void LingeringClose(socket_t sock) {
  ::shutdown(sock, SHUT_WR);
  const auto deadline = Clock::now() + kLingerTime;
  std::array<char, 65536> sink{};
  while (Clock::now() < deadline && WaitFor(sock, POLLIN, deadline - Clock::now())) {
    const ssize_t received = ::recv(sock, sink.data(), sink.size(), 0);
    if (received == 0 || (received < 0 && errno != EINTR)) return;
  }
}

}  // namespace

void HeadDeadlineServer::CloseAfterAnswer() { close_after_answer = true; }

bool HeadDeadlineServer::process_and_close_socket(socket_t sock) {
  // httplib writes a response's head and body in two sends: with Nagle's algorithm the body waited for the
  // client's delayed ACK of the head, 40 ms on Linux, longer than the inference of a lone request.
  const int no_delay = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay));
  DeadlineStream stream(sock, Timeout(read_timeout_sec_, read_timeout_usec_),
                        Timeout(write_timeout_sec_, write_timeout_usec_));
  bool ok = false;
  for (std::size_t left = keep_alive_max_count_;
       left > 0 && stream.AwaitRequest(std::chrono::seconds(keep_alive_timeout_sec_), svr_sock_); --left) {
    stream.StartHead(Clock::now() + header_timeout_);
    bool closed = false;
    close_after_answer = false;
    // httplib calls this once the headers are read, before routing and the body.
    ok = process_request(stream, left == 1, closed, [&stream](httplib::Request&) { stream.EndHead(); });
    if (!ok || closed) break;
    if (close_after_answer) {
      LingeringClose(sock);
      break;
    }
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace orchard
