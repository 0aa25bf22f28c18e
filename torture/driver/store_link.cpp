#include "store_link.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "redis_fleet.hpp"

namespace redlock::torture {

store_link::~store_link() {
  close_fd();
}

void store_link::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

outcome<void> store_link::connect_if_needed() {
  if (fd_ >= 0) return {};
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("store: socket: ") + std::strerror(errno));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return fail("store: connect: " + why);
  }
  fd_ = fd;
  return {};
}

outcome<std::string> store_link::read_line() {
  for (;;) {
    std::size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return fail("store: connection closed");
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("store: recv: ") + std::strerror(errno));
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

outcome<void> store_link::read_exact(std::string& out, std::size_t n) {
  while (buffer_.size() < n + 2) {
    char chunk[4096];
    ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got == 0) return fail("store: connection closed");
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("store: recv: ") + std::strerror(errno));
    }
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
  out = buffer_.substr(0, n);
  buffer_.erase(0, n + 2);
  return {};
}

outcome<store_reply> store_link::call(const std::vector<std::string>& args) {
  if (auto c = connect_if_needed(); !c) return fail(c.error());
  const std::string bytes = redlock::testing::encode_command(args);
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      close_fd();
      return fail("store: send: " + why);
    }
    sent += static_cast<std::size_t>(n);
  }
  auto line = read_line();
  if (!line || line->empty()) {
    std::string why = line ? "store: empty reply line" : line.error();
    close_fd();
    return fail(why);
  }
  store_reply r;
  const char kind = (*line)[0];
  const std::string rest = line->substr(1);
  switch (kind) {
    case '+':
      r.type = store_reply::kind::status;
      r.str = rest;
      return r;
    case '-':
      r.type = store_reply::kind::error;
      r.str = rest;
      return r;
    case ':':
      r.type = store_reply::kind::integer;
      r.integer = std::stoll(rest);
      return r;
    case '$': {
      long long len = std::stoll(rest);
      if (len < 0) return r;  // nil
      r.type = store_reply::kind::bulk;
      if (auto got = read_exact(r.str, static_cast<std::size_t>(len)); !got) {
        close_fd();
        return fail(got.error());
      }
      return r;
    }
    default:
      close_fd();
      return fail("store: unexpected reply: " + *line);
  }
}

}  // namespace redlock::torture
