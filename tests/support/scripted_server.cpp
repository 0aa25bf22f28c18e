#include "scripted_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace redlock::testing {
namespace {

using steady = std::chrono::steady_clock;

constexpr int listen_backlog = 128;
constexpr std::size_t read_chunk = 16 * 1024;
constexpr long long max_arguments = 1024 * 1024;
constexpr long long max_bulk = 512LL * 1024 * 1024;  // Redis's own proto-max-bulk-len
constexpr std::size_t max_inline = 64 * 1024;        // Redis's PROTO_INLINE_MAX_SIZE

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error("scripted_server: " + what + ": " + std::strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A decimal integer filling all of `text` (an optional '-' then 1 to 18 digits).
std::optional<long long> parse_integer(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 18) return std::nullopt;
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  if (left.count() <= 0) return 0;
  // Round up, so a wait of 0.4 ms still polls once more instead of spinning.
  return static_cast<int>(std::min<long long>(left.count() + 1, 60 * 60 * 1000));
}

}  // namespace

std::string resp_ok() {
  return "+OK\r\n";
}
std::string resp_nil() {
  return "$-1\r\n";
}
std::string resp_int(long long value) {
  return ":" + std::to_string(value) + "\r\n";
}
std::string resp_bulk(std::string_view bytes) {
  std::string out = "$" + std::to_string(bytes.size()) + "\r\n";
  out.append(bytes);
  out += "\r\n";
  return out;
}
std::string resp_error(std::string_view text) {
  std::string out = "-";
  out.append(text);
  out += "\r\n";
  return out;
}

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 0x0f];
  }
  return out;
}

// ---- scripted_connection --------------------------------------------------------------------

scripted_connection::scripted_connection(int fd, const std::atomic<bool>& stopping)
    : fd_(fd), stopping_(stopping) {}

scripted_connection::~scripted_connection() {
  close();
}

void scripted_connection::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  close_fd(fd_);
}

void scripted_connection::shutdown_for_stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

// fd_ is only ever written on the play thread (close()), which is also the only caller of
// fill() and send(): reading it here without the mutex cannot race.
bool scripted_connection::fill(steady::time_point deadline) {
  if (fd_ < 0 || eof_ || broken_) return false;
  while (!stopping_.load()) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      broken_ = true;
      return false;
    }
    if (rc == 0) return false;  // timed out
    char chunk[read_chunk];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) {  // e.g. ECONNRESET: the client is gone as surely as with EOF
      eof_ = true;
      return false;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  return false;
}

int scripted_connection::parse(std::vector<std::string>& out) {
  for (;;) {
    out.clear();
    if (buffer_.empty()) return 0;
    std::size_t pos = 0;
    auto line = [&](std::string_view& text, std::size_t limit) -> int {
      std::size_t eol = buffer_.find("\r\n", pos);
      if (eol == std::string::npos) return buffer_.size() - pos > limit ? -1 : 0;
      text = std::string_view(buffer_).substr(pos, eol - pos);
      pos = eol + 2;
      return 1;
    };

    if (buffer_[0] != '*') {  // inline command: one line, words split on spaces
      std::size_t eol = buffer_.find('\n');
      if (eol == std::string::npos) return buffer_.size() > max_inline ? -1 : 0;
      std::string_view text = std::string_view(buffer_).substr(0, eol);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      std::size_t at = 0;
      while (at < text.size()) {
        std::size_t start = text.find_first_not_of(" \t", at);
        if (start == std::string_view::npos) break;
        std::size_t end = text.find_first_of(" \t", start);
        if (end == std::string_view::npos) end = text.size();
        out.emplace_back(text.substr(start, end - start));
        at = end;
      }
      buffer_.erase(0, eol + 1);
      if (out.empty()) continue;  // a blank line, as Redis ignores it
      return 1;
    }

    std::string_view header;
    int rc = line(header, 32);
    if (rc <= 0) return rc;
    auto count = parse_integer(header.substr(1));
    if (!count || *count > max_arguments) return -1;
    if (*count <= 0) {  // "*0" and "*-1": Redis skips them
      buffer_.erase(0, pos);
      continue;
    }
    for (long long i = 0; i < *count; ++i) {
      std::string_view size_line;
      rc = line(size_line, 32);
      if (rc <= 0) return rc;
      if (size_line.empty() || size_line[0] != '$') return -1;
      auto size = parse_integer(size_line.substr(1));
      if (!size || *size < 0 || *size > max_bulk) return -1;
      auto length = static_cast<std::size_t>(*size);
      if (buffer_.size() - pos < length + 2) return 0;
      if (buffer_.compare(pos + length, 2, "\r\n") != 0) return -1;
      out.emplace_back(buffer_, pos, length);
      pos += length + 2;
    }
    buffer_.erase(0, pos);
    return 1;
  }
}

std::optional<std::vector<std::string>> scripted_connection::read_command(
    std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  std::vector<std::string> out;
  while (!broken_ && fd_ >= 0 && !stopping_.load()) {
    int rc = parse(out);
    if (rc > 0) return out;
    if (rc < 0) {
      broken_ = true;
      break;
    }
    if (!fill(deadline)) break;
  }
  return std::nullopt;
}

void scripted_connection::send(std::string_view raw_bytes) {
  while (fd_ >= 0 && !raw_bytes.empty()) {
    ssize_t n = ::send(fd_, raw_bytes.data(), raw_bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client is gone (EPIPE, ECONNRESET) or we were shut down
    raw_bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool scripted_connection::peer_closed(std::chrono::milliseconds wait) {
  if (fd_ < 0) return false;
  const auto deadline = steady::now() + wait;
  while (!eof_ && !broken_ && !stopping_.load()) {
    if (!fill(deadline) && !eof_) return false;  // timed out, error or stop
  }
  return eof_ && !stopping_.load();
}

std::vector<std::string> scripted_connection::serve_handshake(const std::string& run_id) {
  for (;;) {
    auto command = read_command();
    if (!command) return {};
    const std::vector<std::string>& c = *command;
    std::string name = lower(c[0]);
    if (name == "auth" || name == "select") {
      send(resp_ok());
    } else if (name == "ping") {
      send(c.size() > 1 ? resp_bulk(c[1]) : "+PONG\r\n");
    } else if (name == "info") {
      send(resp_bulk("# Server\r\nredis_version:7.0.15\r\nrun_id:" + run_id +
                     "\r\nuptime_in_seconds:100\r\n"));
    } else if (name == "script" && c.size() == 3 && lower(c[1]) == "load") {
      send(resp_bulk(sha1_hex(c[2])));
    } else {
      return std::move(*command);
    }
  }
}

// ---- scripted_server ------------------------------------------------------------------------

scripted_server::scripted_server(play_fn play) : play_(std::move(play)) {
  try {
    if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) throw_errno("pipe2");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;  // the kernel picks a free port
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw_errno("bind 127.0.0.1:0");
    }
    if (::listen(listen_fd_, listen_backlog) != 0) throw_errno("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw_errno("getsockname");
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  } catch (...) {
    close_fd(listen_fd_);
    close_fd(wake_pipe_[0]);
    close_fd(wake_pipe_[1]);
    throw;
  }
}

scripted_server::~scripted_server() {
  stopping_.store(true);
  char byte = 0;
  while (::write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
  }
  accept_thread_.join();
  // The accept thread is gone: sessions_ changes no more. Wake every play blocked on its
  // socket, then wait for each to return.
  for (auto& s : sessions_)
    s.conn->shutdown_for_stop();
  for (auto& s : sessions_)
    s.thread.join();
  sessions_.clear();  // closes the sockets still open
  close_fd(listen_fd_);
  close_fd(wake_pipe_[0]);
  close_fd(wake_pipe_[1]);
}

std::string scripted_server::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_);
}

void scripted_server::accept_loop() {
  while (!stopping_.load()) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int rc = ::poll(p, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return;  // nothing sensible left to do; the destructor still joins and cleans up
    }
    if (p[1].revents != 0) return;
    if ((p[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // EINTR, ECONNABORTED, EMFILE...: try again
    sessions_.emplace_back();
    session& s = sessions_.back();
    s.conn.reset(new scripted_connection(fd, stopping_));
    accepted_.fetch_add(1);
    scripted_connection* conn = s.conn.get();
    s.thread = std::thread([this, conn] {
      play_(*conn);
      conn->close();
    });
  }
}

}  // namespace redlock::testing
