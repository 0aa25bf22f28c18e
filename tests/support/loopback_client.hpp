// A blocking TCP client on 127.0.0.1 for the support self-tests: it sends raw bytes, reads with
// a deadline and tells exactly how its connection ended (EOF, or which error), which is what a
// test of a fake server or a fault proxy asserts on.
//
//   loopback_client c;
//   ASSERT_EQ(c.connect(port), 0);
//   EXPECT_EQ(c.roundtrip(encode_command({"PING"}), 7), "+PONG\r\n");
//   EXPECT_EQ(c.wait_end(), ECONNRESET);  // the proxy reset it
//
// Single-threaded; the destructor closes the socket. Sends never raise SIGPIPE (MSG_NOSIGNAL).
// The default timeouts only bound a failing test, so they are generous for sanitizer builds.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace redlock::testing {

// 127.0.0.1:port.
inline sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

class loopback_client {
 public:
  static constexpr int open = -1;  // end() of a connection that has not ended
  static constexpr std::chrono::milliseconds default_timeout{5000};

  loopback_client() = default;
  ~loopback_client() { close(); }
  loopback_client(const loopback_client&) = delete;
  loopback_client& operator=(const loopback_client&) = delete;

  // Connects to 127.0.0.1:port (closing any earlier connection first): 0, or the errno of the
  // failed socket or connect (e.g. ECONNREFUSED).
  int connect(std::uint16_t port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno;
    const sockaddr_in a = loopback_address(port);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      const int err = errno;
      close();
      return err;
    }
    // Small writes go out at once: a test that splits a command means the split.
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
  }

  // Sends all of `data`; false if the connection failed first.
  bool send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads until n bytes have arrived, the connection ended (see end()) or the timeout passed;
  // returns what arrived.
  std::string read(std::size_t n, std::chrono::milliseconds timeout = default_timeout) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && end_ == open) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got > 0) {
        out.append(buf, static_cast<std::size_t>(got));
      } else if (got == 0) {
        end_ = 0;
      } else if (errno != EINTR && errno != EAGAIN) {
        end_ = errno;
      }
    }
    return out;
  }

  // Sends one command and reads its reply of reply_size bytes (e.g. 7 for "+PONG\r\n").
  std::string roundtrip(const std::string& command, std::size_t reply_size,
                        std::chrono::milliseconds timeout = default_timeout) {
    if (!send(command)) return "<send failed>";
    return read(reply_size, timeout);
  }

  // Waits for the connection to end, discarding data: 0 for EOF, the errno of an error (e.g.
  // ECONNRESET), or `open` if it is still open after the timeout.
  int wait_end(std::chrono::milliseconds timeout = default_timeout) {
    read(static_cast<std::size_t>(-1), timeout);
    return end_;
  }

  // As wait_end(), for a test that only asks whether the peer closed: true if the connection
  // ended either way (EOF, or an error such as a reset) within the timeout.
  bool ended(std::chrono::milliseconds timeout = default_timeout) {
    return wait_end(timeout) != open;
  }

  // How the connection ended so far: `open`, 0 for EOF, or the errno.
  int end() const { return end_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    end_ = open;
  }

 private:
  int fd_ = -1;
  int end_ = open;
};

}  // namespace redlock::testing
