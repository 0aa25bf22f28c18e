#include "redis_fleet.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace redlock::testing {
namespace {

using steady = std::chrono::steady_clock;

// Where the build put the clock-shift shim (the redlock_clock_shift target).
constexpr const char* built_clock_shift_library = REDLOCK_CLOCK_SHIFT_LIBRARY;
constexpr const char* clock_shift_file_name = "clock_shift_ms";
// What a server logs once it serves: a data node after loading its data set, a sentinel once it
// has its ID (and has saved its config).
constexpr const char* data_node_ready_notice = "Ready to accept connections";
constexpr const char* sentinel_ready_notice = "Sentinel ID is";

// A node that needs more attempts than this to find a free port has a bigger problem than a
// race with another process.
constexpr int max_port_attempts = 5;
// Readiness probes are short so that a node stuck in one attempt cannot eat the start budget.
constexpr std::chrono::milliseconds probe_timeout{200};
constexpr std::chrono::milliseconds probe_interval{2};
// Nesting deeper than this is not something the tests send; refuse it instead of recursing.
constexpr int max_reply_depth = 32;

std::string errno_message(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const noexcept { return fd_; }
  void release() noexcept { fd_ = -1; }
  void reset() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }

 private:
  int fd_;
};

struct address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // names the peer in error messages

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

address tcp4_address(std::uint16_t port, std::string text) {
  address a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.length = sizeof(sockaddr_in);
  a.text = std::move(text);
  return a;
}

address unix_address(const std::string& path, std::string text) {
  address a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  if (path.size() >= sizeof(un->sun_path)) {
    throw std::runtime_error("unix socket path too long (" + std::to_string(path.size()) +
                             " bytes): " + path);
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  a.text = std::move(text);
  return a;
}

// One blocking-style connection with a single deadline for everything done on it, so that a
// paused server turns into a timeout_error instead of a hang.
class connection {
 public:
  connection(const address& peer, steady::time_point deadline)
      : fd_(::socket(peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)),
        deadline_(deadline),
        peer_(peer.text) {
    if (fd_.get() < 0) {
      throw transport_error(errno_message("socket for " + peer_, errno));
    }
    if (peer.family() != AF_UNIX) {
      // Requests are tiny and strictly request/response; do not let Nagle hold them back.
      int one = 1;
      ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (::connect(fd_.get(), peer.sa(), peer.length) != 0) {
      if (errno != EINPROGRESS) {
        throw transport_error(errno_message("connect to " + peer_, errno));
      }
      wait_for(POLLOUT, "connecting");
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
      if (err != 0) {
        throw transport_error(errno_message("connect to " + peer_, err));
      }
    }
  }

  void send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n >= 0) {
        sent += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(POLLOUT, "sending");
      } else if (errno != EINTR) {
        throw transport_error(errno_message("send to " + peer_, errno));
      }
    }
  }

  // Everything after this call must be done by `deadline`.
  void set_deadline(steady::time_point deadline) { deadline_ = deadline; }

  reply read_reply(int depth = 0) {
    if (depth > max_reply_depth) {
      protocol_error("reply nested too deeply");
    }
    const std::string line = read_line();
    if (line.empty()) {
      protocol_error("empty reply line");
    }
    const std::string rest = line.substr(1);
    reply r;
    switch (line[0]) {
      case '+':
        r.type = reply::kind::status;
        r.str = rest;
        return r;
      case '-':
        r.type = reply::kind::error;
        r.str = rest;
        return r;
      case ':':
        r.type = reply::kind::integer;
        r.integer = parse_integer(rest);
        return r;
      case '$': {
        const long long len = parse_integer(rest);
        if (len == -1) {
          return r;  // nil
        }
        if (len < 0) {
          protocol_error("bad bulk length " + rest);
        }
        r.type = reply::kind::bulk;
        r.str = read_bulk(static_cast<std::size_t>(len));
        return r;
      }
      case '*': {
        const long long count = parse_integer(rest);
        if (count == -1) {
          return r;  // nil array
        }
        if (count < 0) {
          protocol_error("bad array length " + rest);
        }
        r.type = reply::kind::array;
        // No reserve(count): a corrupt huge count must fail on reading, not on allocating.
        for (long long k = 0; k < count; ++k) {
          r.elements.push_back(read_reply(depth + 1));
        }
        return r;
      }
      default:
        protocol_error("unexpected reply type in line \"" + line + "\"");
    }
    return r;  // unreachable; protocol_error throws
  }

 private:
  [[noreturn]] void protocol_error(const std::string& what) const {
    throw transport_error("protocol error from " + peer_ + ": " + what);
  }

  long long parse_integer(const std::string& text) const {
    if (text.empty()) {
      protocol_error("empty integer");
    }
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno != 0 || end != text.c_str() + text.size()) {
      protocol_error("bad integer \"" + text + "\"");
    }
    return value;
  }

  // Blocks (in poll) until the socket is ready for `events`, or throws timeout_error.
  void wait_for(short events, const char* doing) {
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - steady::now());
      if (left.count() <= 0) {
        throw timeout_error("timed out " + std::string(doing) + " (" + peer_ + ")");
      }
      pollfd p{fd_.get(), events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
      if (n > 0) {
        return;  // ready, or an error/hangup that the next call reports
      }
      if (n < 0 && errno != EINTR) {
        throw transport_error(errno_message("poll on " + peer_, errno));
      }
    }
  }

  // Appends whatever the server has sent next to buffer_ (at least one byte).
  void fill() {
    // Drop consumed bytes first so the buffer does not grow with every reply read.
    if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
      buffer_.erase(0, consumed_);
      scanned_ -= std::min(scanned_, consumed_);
      consumed_ = 0;
    }
    char chunk[64 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return;
      }
      if (n == 0) {
        throw transport_error("connection closed by " + peer_);
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(POLLIN, "waiting for a reply");
      } else if (errno != EINTR) {
        throw transport_error(errno_message("recv from " + peer_, errno));
      }
    }
  }

  // The next line without its CRLF; reads as much as needed (replies may arrive in pieces).
  std::string read_line() {
    for (;;) {
      const std::size_t from = std::max(scanned_, consumed_);
      const std::size_t crlf = buffer_.find("\r\n", from);
      if (crlf != std::string::npos) {
        std::string line = buffer_.substr(consumed_, crlf - consumed_);
        consumed_ = crlf + 2;
        scanned_ = consumed_;
        return line;
      }
      // A '\r' at the very end may be the first half of the CRLF: rescan it next time.
      scanned_ = buffer_.empty() ? 0 : buffer_.size() - 1;
      fill();
    }
  }

  std::string read_bulk(std::size_t len) {
    while (buffer_.size() - consumed_ < len + 2) {
      fill();
    }
    if (buffer_.compare(consumed_ + len, 2, "\r\n") != 0) {
      protocol_error("bulk string not terminated by CRLF");
    }
    std::string payload = buffer_.substr(consumed_, len);
    consumed_ += len + 2;
    scanned_ = consumed_;
    return payload;
  }

  unique_fd fd_;
  steady::time_point deadline_;
  std::string peer_;
  std::string buffer_;
  std::size_t consumed_ = 0;  // bytes of buffer_ already parsed
  std::size_t scanned_ = 0;   // bytes of buffer_ already searched for CRLF
};

// Runs AUTH (if credentials are given) and then `args` on a fresh connection. Returns the
// AUTH error if AUTH fails, else the command's reply.
reply exchange(const address& peer, const std::string& user, const std::string& password,
               const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  if (args.empty()) {
    throw std::invalid_argument("redis_fleet: empty command");
  }
  connection c(peer, steady::now() + timeout);
  if (!user.empty() || !password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!user.empty()) {
      auth.push_back(user);
    }
    auth.push_back(password);
    c.send_all(encode_command(auth));
    reply r = c.read_reply();
    if (r.is_error()) {
      return r;
    }
  }
  c.send_all(encode_command(args));
  return c.read_reply();
}

}  // namespace

class resp_link::connection : public testing::connection {
 public:
  using testing::connection::connection;
};

resp_link::resp_link(std::uint16_t port, std::chrono::milliseconds timeout)
    : port_(port), timeout_(timeout) {}

resp_link::~resp_link() = default;

reply resp_link::call(const std::vector<std::string>& args) {
  const steady::time_point deadline = steady::now() + timeout_;
  try {
    if (!open_) {
      open_ = std::make_unique<connection>(
          tcp4_address(port_, "127.0.0.1:" + std::to_string(port_)), deadline);
    }
    open_->set_deadline(deadline);
    open_->send_all(encode_command(args));
    return open_->read_reply();
  } catch (...) {
    open_.reset();  // the stream may hold half a reply: start afresh
    throw;
  }
}

namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Whether [::1] can be bound at all (containers without IPv6 cannot).
bool loopback_ipv6_available() {
  unique_fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return false;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = in6addr_loopback;
  in6.sin6_port = 0;
  return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&in6), sizeof in6) == 0;
}

// Binds a reservation socket (SO_REUSEADDR, not listening) to the loopback address of `family`
// and `port` (0: the kernel picks a free one). Returns the fd, or -1 with errno set.
int bind_reservation(int family, std::uint16_t port) {
  unique_fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return -1;
  }
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = -1;
  if (family == AF_INET) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.sin_port = htons(port);
    rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&in), sizeof in);
  } else {
    // Only [::1], not the IPv4-mapped space: 127.0.0.1 has its own reservation.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_loopback;
    in6.sin6_port = htons(port);
    rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
  }
  if (rc != 0) {
    const int err = errno;  // keep bind's errno across close()
    fd.reset();
    errno = err;
    return -1;
  }
  const int out = fd.get();
  fd.release();
  return out;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in in{};
  socklen_t len = sizeof in;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0) {
    throw std::runtime_error(errno_message("getsockname", errno));
  }
  return ntohs(in.sin_port);
}

std::string read_file(const std::string& path, std::uintmax_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  in.seekg(static_cast<std::streamoff>(from));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string last_lines(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') {
    --pos;
  }
  std::size_t found = 0;
  while (pos > 0 && found < lines) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      return text;
    }
    pos = nl;
    ++found;
  }
  return found < lines ? text : text.substr(pos + 1);
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "stopped";
}

pid_t waitpid_no_eintr(pid_t pid, int* status, int flags) {
  for (;;) {
    const pid_t r = ::waitpid(pid, status, flags);
    if (r >= 0 || errno != EINTR) {
      return r;
    }
  }
}

// Closes every fd >= 3 in a forked child; only async-signal-safe calls.
void close_inherited_fds(long max_fd) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  if (::close_range(3, ~0U, 0) == 0) {
    return;
  }
#endif
  for (long fd = 3; fd < max_fd; ++fd) {
    ::close(static_cast<int>(fd));
  }
}

// This process's environment with each "NAME=value" of `changes` put in place of NAME's entry.
std::vector<std::string> environment_with(const std::vector<std::string>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto same_name = [&](const std::string& change) {
      const std::size_t eq = change.find('=');
      return entry.compare(0, eq + 1, change, 0, eq + 1) == 0;
    };
    if (std::none_of(changes.begin(), changes.end(), same_name)) {
      env.push_back(entry);
    }
  }
  env.insert(env.end(), changes.begin(), changes.end());
  return env;
}

// Forks and execs argv with stdout and stderr appended to output_fd, in this process's
// environment changed by env_changes ("NAME=value" entries). The child dies with the forking
// thread (PR_SET_PDEATHSIG) so a crashed test cannot leak servers. Everything the child needs is
// prepared before fork(): only async-signal-safe calls happen between fork and exec.
pid_t spawn_process(std::vector<std::string> argv_strings, int output_fd, bool die_with_parent,
                    const std::vector<std::string>& env_changes = {}) {
  std::vector<char*> argv;
  for (auto& s : argv_strings) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = environment_with(env_changes);
  std::vector<char*> envp;
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  const long max_fd =
      std::min(::sysconf(_SC_OPEN_MAX) > 0 ? ::sysconf(_SC_OPEN_MAX) : 1024L, 65536L);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(errno_message("fork", errno));
  }
  if (pid > 0) {
    return pid;
  }

  // Child.
  if (die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
      ::_exit(126);
    }
    // The parent may have died before prctl took effect; then nobody would ever kill us.
    if (::getppid() != parent) {
      ::_exit(126);
    }
  }
  // Inherited blocked signals and ignored dispositions would survive exec and change how the
  // server reacts to SIGTERM and friends.
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD}) {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    ::sigaction(sig, &sa, nullptr);
  }
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(output_fd, STDOUT_FILENO) < 0 ||
      ::dup2(output_fd, STDERR_FILENO) < 0) {
    ::_exit(126);
  }
  close_inherited_fds(max_fd);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(127);
}

std::string compute_unavailable_reason() {
  const char* env = std::getenv("REDLOCK_REDIS_SERVER");
  const std::string server = find_redis_server();
  if (server.empty()) {
    if (env != nullptr && *env != '\0') {
      return std::string("REDLOCK_REDIS_SERVER=") + env + " is not an executable file";
    }
    return "redis-server not found on PATH (set REDLOCK_REDIS_SERVER to use another one)";
  }
  // `redis-server --version` prints "Redis server v=7.0.15 sha=...".
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return errno_message("pipe", errno);
  }
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);
  pid_t pid = -1;
  try {
    pid = spawn_process({server, "--version"}, write_end.get(), true);
  } catch (const std::exception& e) {
    return e.what();
  }
  write_end.reset();
  std::string output;
  char chunk[512];
  for (;;) {
    const ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
    if (n > 0) {
      output.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  waitpid_no_eintr(pid, &status, 0);
  const std::size_t v = output.find("v=");
  if (v == std::string::npos) {
    return server + " --version printed no version: " + output;
  }
  const int major = std::atoi(output.c_str() + v + 2);
  if (major < 7) {
    const std::size_t end = output.find(' ', v);
    return server + " is Redis " + output.substr(v + 2, end - v - 2) +
           "; the fleet needs 7.0 or newer";
  }
  return {};
}

}  // namespace

std::string conf_quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

std::string encode_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) {
    out += "$" + std::to_string(arg.size()) + "\r\n";
    out += arg;
    out += "\r\n";
  }
  return out;
}

std::string reply::render() const {
  switch (type) {
    case kind::status:
    case kind::error:
    case kind::bulk:
      return str;
    case kind::integer:
      return std::to_string(integer);
    case kind::nil:
      return "(nil)";
    case kind::array: {
      std::string out;
      for (std::size_t k = 0; k < elements.size(); ++k) {
        if (k > 0) {
          out += '\n';
        }
        out += elements[k].render();
      }
      return out;
    }
  }
  return {};
}

std::map<std::string, std::string> reply::fields() const {
  std::map<std::string, std::string> out;
  for (std::size_t k = 0; k + 1 < elements.size(); k += 2) {
    out[elements[k].render()] = elements[k + 1].render();
  }
  return out;
}

std::string info_field(const std::string& info, const std::string& key) {
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      return line.substr(key.size() + 1);
    }
  }
  return {};
}

std::string find_redis_server() {
  if (const char* env = std::getenv("REDLOCK_REDIS_SERVER"); env != nullptr && *env != '\0') {
    // An explicit choice is never replaced by whatever PATH holds.
    return is_executable_file(env) ? std::string(env) : std::string();
  }
  return find_program("redis-server");
}

std::string find_program(const std::string& name) {
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = path.find(':', begin);
    std::string dir = path.substr(begin, end == std::string::npos ? end : end - begin);
    if (dir.empty()) {
      dir = ".";  // POSIX: an empty PATH entry is the current directory
    }
    const std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) {
      return candidate;
    }
    if (end == std::string::npos) {
      return {};
    }
    begin = end + 1;
  }
}

bool program_result::ok() const {
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int program_result::exit_code() const {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string program_result::describe() const {
  return timed_out ? "timed out" : describe_exit(status);
}

program_result run_program(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
  if (argv.empty()) {
    throw std::invalid_argument("run_program: empty argv");
  }
  std::vector<std::string> resolved = argv;
  if (resolved[0].find('/') == std::string::npos) {
    resolved[0] = find_program(argv[0]);
    if (resolved[0].empty()) {
      throw std::runtime_error("run_program: " + argv[0] + " not found on PATH");
    }
  } else if (!is_executable_file(resolved[0])) {
    throw std::runtime_error("run_program: " + argv[0] + " is not an executable file");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(errno_message("pipe", errno));
  }
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);
  const pid_t pid = spawn_process(std::move(resolved), write_end.get(), true);
  write_end.reset();

  program_result result;
  const auto deadline = steady::now() + timeout;
  const auto left_ms = [&] {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    return static_cast<int>(std::max<long long>(0, std::min<long long>(left, 1000)));
  };
  // Read everything it writes, until it closes its end (normally: it exited).
  char chunk[4096];
  for (;;) {
    pollfd p{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, left_ms());
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::kill(pid, SIGKILL);
      waitpid_no_eintr(pid, &result.status, 0);
      throw std::runtime_error(errno_message("run_program: poll", err));
    }
    if (ready == 0) {
      if (steady::now() >= deadline) {
        result.timed_out = true;
        break;
      }
      continue;
    }
    const ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
    if (n > 0) {
      result.output.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  // Its output is closed; it may still be about to exit.
  while (!result.timed_out) {
    if (waitpid_no_eintr(pid, &result.status, WNOHANG) == pid) {
      return result;
    }
    if (steady::now() >= deadline) {
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid, SIGKILL);
  waitpid_no_eintr(pid, &result.status, 0);
  return result;
}

std::string redis_unavailable_reason() {
  static const std::string reason = compute_unavailable_reason();
  return reason;
}

std::string tls_unavailable_reason() {
  static const std::string reason = [] {
    std::string why = redis_unavailable_reason();
    if (why.empty() && find_program("openssl").empty()) {
      why = "the openssl command-line tool (for the test certificates) is not on PATH";
    }
    return why;
  }();
  return reason;
}

bool redis_required() {
  const char* env = std::getenv("REDLOCK_REQUIRE_REDIS");
  return env != nullptr && std::string(env) == "1";
}

redis_fleet::redis_fleet(std::size_t n, node_options options) : options_(std::move(options)) {
  server_ = find_redis_server();
  if (server_.empty()) {
    throw std::runtime_error("redis_fleet: " + redis_unavailable_reason());
  }
  for (const auto& line : options_.extra_config) {
    std::istringstream words(line);
    std::string key;
    std::string level;
    words >> key >> level;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (key == "loglevel" && (level == "warning" || level == "nothing")) {
      throw std::invalid_argument("redis_fleet: extra_config \"" + line +
                                  "\" would hide the \"Ready to accept connections\" notice");
    }
  }
  if (options_.tls && options_.tls_auth_clients != "no" && options_.tls_auth_clients != "yes" &&
      options_.tls_auth_clients != "optional") {
    throw std::invalid_argument("redis_fleet: tls_auth_clients \"" + options_.tls_auth_clients +
                                "\" is none of \"no\", \"yes\" and \"optional\"");
  }
  if (options_.sentinel && options_.persistence) {
    throw std::invalid_argument(
        "redis_fleet: a sentinel fleet takes no persistence (a sentinel has no data set)");
  }
  if (options_.clock_shift) {
    std::error_code ec;
    // Canonical, as /proc/<pid>/maps names it (start_nodes() checks that the shim is loaded).
    clock_shift_library_ = std::filesystem::canonical(built_clock_shift_library, ec).string();
    if (ec) {
      throw std::runtime_error("redis_fleet: the clock-shift shim " +
                               std::string(built_clock_shift_library) + " is missing (" +
                               ec.message() + "); build the redlock_clock_shift target");
    }
  }
  if (!options_.dir.empty()) {
    if (::mkdir(options_.dir.c_str(), 0700) != 0) {
      throw std::runtime_error(errno_message("redis_fleet: mkdir " + options_.dir, errno));
    }
    dir_ = options_.dir;
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    templ += "/redlock-fleet-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error(errno_message("mkdtemp " + templ, errno));
    }
    dir_ = templ;
  }
  try {
    ipv6_ = loopback_ipv6_available();
    if (options_.tls) {
      certs_ = options_.tls_certs.ca_cert.empty() ? make_test_certs(dir_ + "/certs")
                                                  : options_.tls_certs;
    }
    nodes_.resize(n);
    std::vector<std::size_t> all;
    for (std::size_t i = 0; i < n; ++i) {
      node& nd = nodes_[i];
      nd.dir = dir_ + "/node" + std::to_string(i);
      if (::mkdir(nd.dir.c_str(), 0700) != 0) {
        throw std::runtime_error(errno_message("mkdir " + nd.dir, errno));
      }
      if (options_.unix_socket) {
        unix_address(nd.dir + "/redis.sock", "");  // fail early on a too-long TMPDIR
      }
      all.push_back(i);
    }
    start_nodes(all, true);
  } catch (...) {
    cleanup();  // the destructor does not run for a constructor that throws
    throw;
  }
}

redis_fleet::~redis_fleet() {
  cleanup();
}

void redis_fleet::cleanup() noexcept {
  for (auto& nd : nodes_) {
    stop(nd);
    release_port(nd);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

const redis_fleet::node& redis_fleet::at(std::size_t i) const {
  if (i >= nodes_.size()) {
    throw std::out_of_range("redis_fleet: node " + std::to_string(i) + " of " +
                            std::to_string(nodes_.size()));
  }
  return nodes_[i];
}

redis_fleet::node& redis_fleet::at(std::size_t i) {
  return const_cast<node&>(static_cast<const redis_fleet*>(this)->at(i));
}

std::uint16_t redis_fleet::port(std::size_t i) const {
  return at(i).port;
}

std::string redis_fleet::url(std::size_t i) const {
  return "redis://127.0.0.1:" + std::to_string(port(i));
}

std::vector<std::string> redis_fleet::urls() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out.push_back(url(i));
  }
  return out;
}

std::string redis_fleet::url6(std::size_t i) const {
  if (!ipv6_) {
    throw std::logic_error("redis_fleet: no IPv6 loopback on this host");
  }
  return "redis://[::1]:" + std::to_string(port(i));
}

std::string redis_fleet::unix_path(std::size_t i) const {
  if (!options_.unix_socket) {
    throw std::logic_error("redis_fleet: started without node_options::unix_socket");
  }
  return at(i).dir + "/redis.sock";
}

std::string redis_fleet::unix_url(std::size_t i) const {
  return "unix://" + unix_path(i);
}

std::uint16_t redis_fleet::tls_port(std::size_t i) const {
  const node& nd = at(i);
  if (!options_.tls) {
    throw std::logic_error("redis_fleet: started without node_options::tls");
  }
  return nd.tls_port;
}

std::string redis_fleet::tls_url(std::size_t i) const {
  return "rediss://127.0.0.1:" + std::to_string(tls_port(i));
}

std::vector<std::string> redis_fleet::tls_urls() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out.push_back(tls_url(i));
  }
  return out;
}

const cert_set& redis_fleet::certs() const {
  if (!options_.tls) {
    throw std::logic_error("redis_fleet: started without node_options::tls");
  }
  return certs_;
}

std::string redis_fleet::node_dir(std::size_t i) const {
  return at(i).dir;
}

std::string redis_fleet::log_path(std::size_t i) const {
  return at(i).dir + "/redis.log";
}

std::string redis_fleet::log_tail(std::size_t i, std::size_t lines) const {
  return last_lines(read_file(log_path(i)), lines);
}

void redis_fleet::write_config(std::size_t i) const {
  const node& nd = at(i);
  std::ostringstream conf;
  conf << "# generated by redlock::testing::redis_fleet\n"
       << "port " << nd.port
       << "\n"
       // "-" marks ::1 as optional (6.2+), should the host lose IPv6 between two starts.
       << "bind 127.0.0.1" << (ipv6_ ? " -::1" : "") << "\n"
       << "daemonize no\n"
       << "dir " << conf_quote(nd.dir) << "\n"
       << "logfile " << conf_quote(nd.dir + "/redis.log") << "\n";
  if (!options_.sentinel) {  // a sentinel has no data set
    conf << "save \"\"\n"
         << "enable-debug-command local\n";
    if (options_.persistence) {
      conf << "appendonly yes\n"
           << "appendfsync always\n";
    } else {
      conf << "appendonly no\n";
    }
  }
  if (options_.unix_socket) {
    conf << "unixsocket " << conf_quote(nd.dir + "/redis.sock") << "\n"
         << "unixsocketperm 700\n";
  }
  if (options_.tls) {
    const std::string* cert = &certs_.server_cert;
    const std::string* key = &certs_.server_key;
    switch (options_.tls_server_cert) {
      case tls_cert::good:
        break;
      case tls_cert::wrong_host:
        cert = &certs_.wrong_host_cert;
        key = &certs_.wrong_host_key;
        break;
      case tls_cert::expired:
        cert = &certs_.expired_cert;
        key = &certs_.expired_key;
        break;
    }
    // The TLS port listens on the same bind addresses as the plain one.
    conf << "tls-port " << nd.tls_port << "\n"
         << "tls-cert-file " << conf_quote(*cert) << "\n"
         << "tls-key-file " << conf_quote(*key) << "\n"
         << "tls-ca-cert-file " << conf_quote(certs_.ca_cert) << "\n"
         << "tls-auth-clients " << options_.tls_auth_clients << "\n";
    if (options_.sentinel) {
      conf << "tls-replication yes\n"
           << "sentinel announce-port " << nd.tls_port << "\n";
    }
  }
  if (!options_.requirepass.empty()) {
    conf << "requirepass " << conf_quote(options_.requirepass) << "\n";
  }
  for (const auto& user : options_.acl_users) {
    conf << (user.rfind("user ", 0) == 0 ? "" : "user ") << user << "\n";
  }
  for (const auto& line : options_.extra_config) {
    conf << line << "\n";
  }
  const std::string path = nd.dir + "/redis.conf";
  std::ofstream out(path, std::ios::trunc);
  out << conf.str();
  out.close();
  if (!out) {
    throw std::runtime_error("redis_fleet: cannot write " + path);
  }
}

void redis_fleet::spawn(std::size_t i) {
  node& nd = at(i);
  const std::string log = log_path(i);
  unique_fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.get() < 0) {
    throw std::runtime_error(errno_message("open " + log, errno));
  }
  std::vector<std::string> env;
  if (options_.clock_shift) {
    const char* preload = std::getenv("LD_PRELOAD");
    env.push_back("LD_PRELOAD=" + clock_shift_library_ +
                  (preload != nullptr && *preload != '\0' ? std::string(":") + preload : ""));
    env.push_back("REDLOCK_CLOCK_SHIFT_FILE=" + clock_shift_file(i));
  }
  std::vector<std::string> argv{server_, nd.dir + "/redis.conf"};
  if (options_.sentinel) {
    argv.emplace_back("--sentinel");
  }
  nd.pid = spawn_process(std::move(argv), log_fd.get(), true, env);
  nd.paused = false;
}

void redis_fleet::start_nodes(const std::vector<std::size_t>& which, bool may_change_port) {
  struct attempt {
    std::size_t node;
    int number = 0;
    std::uintmax_t log_offset = 0;  // where this attempt's output starts in the log
    steady::time_point deadline;
  };
  std::vector<attempt> attempts;
  const auto launch = [&](attempt& a) {
    node& nd = at(a.node);
    if (may_change_port) {
      reserve_new_port(nd);
      // Only with a new port: a restart keeps what the server itself wrote (CONFIG REWRITE).
      write_config(a.node);
    }
    a.log_offset = file_size_or_zero(log_path(a.node));
    a.deadline = steady::now() + options_.start_timeout;
    ++a.number;
    spawn(a.node);
  };
  // Start all first and then wait, so n nodes take about as long as one.
  for (const std::size_t i : which) {
    attempts.push_back(attempt{i, 0, 0, {}});
    launch(attempts.back());
  }

  // A node is up once this attempt's log has the ready notice (a data node's is logged after the
  // data set is loaded) and it answers PING. The log proves that the server on the port is ours and
  // not a stranger that took the port. The PING AUTHs with what command() will use, or as `default`
  // with requirepass, so that a LOADING reply is not hidden behind NOAUTH; any other reply (even
  // NOAUTH/WRONGPASS) means the server is up.
  const char* const ready_notice =
      options_.sentinel ? sentinel_ready_notice : data_node_ready_notice;
  const bool have_auth = !auth_user_.empty() || !auth_password_.empty();
  const std::string& probe_user = have_auth ? auth_user_ : std::string();
  const std::string& probe_password = have_auth ? auth_password_ : options_.requirepass;

  for (auto& a : attempts) {
    node& nd = at(a.node);
    for (;;) {
      int status = 0;
      if (waitpid_no_eintr(nd.pid, &status, WNOHANG) == nd.pid) {
        nd.pid = -1;
        const std::string output = read_file(log_path(a.node), a.log_offset);
        if (may_change_port && a.number < max_port_attempts &&
            output.find("Address already in use") != std::string::npos) {
          launch(a);  // lost a race for the port: try another one
          continue;
        }
        throw std::runtime_error("redis_fleet: node " + std::to_string(a.node) + " (port " +
                                 std::to_string(nd.port) + ") " + describe_exit(status) +
                                 " while starting; log:\n" + last_lines(output, 20));
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(a.deadline - steady::now());
      if (left.count() <= 0) {
        stop(nd);
        throw std::runtime_error("redis_fleet: node " + std::to_string(a.node) + " (port " +
                                 std::to_string(nd.port) + ") did not become ready within " +
                                 std::to_string(options_.start_timeout.count()) + " ms; log:\n" +
                                 last_lines(read_file(log_path(a.node), a.log_offset), 20));
      }
      const bool logged_ready =
          read_file(log_path(a.node), a.log_offset).find(ready_notice) != std::string::npos;
      if (logged_ready) {
        try {
          const reply r =
              exchange(tcp4_address(nd.port, "starting node " + std::to_string(a.node)), probe_user,
                       probe_password, {"PING"},
                       std::max(std::min(left, probe_timeout), std::chrono::milliseconds(1)));
          if (!(r.is_error() && r.str.rfind("LOADING", 0) == 0)) {
            break;  // up
          }
        } catch (const transport_error&) {
          // Slow to answer, or about to exit; the waitpid above sees the latter.
        }
      }
      std::this_thread::sleep_for(probe_interval);
    }
  }

  // ld.so only warns (into the log) about an LD_PRELOAD it cannot load, and runs the server
  // without it; a node whose clock cannot be shifted must not pass for one that can.
  if (options_.clock_shift) {
    for (const auto& a : attempts) {
      node& nd = at(a.node);
      const std::string maps = read_file("/proc/" + std::to_string(nd.pid) + "/maps");
      if (maps.find(clock_shift_library_) == std::string::npos) {
        stop(nd);
        throw std::runtime_error("redis_fleet: node " + std::to_string(a.node) +
                                 " runs without the clock-shift shim " + clock_shift_library_ +
                                 "; log:\n" +
                                 last_lines(read_file(log_path(a.node), a.log_offset), 20));
      }
    }
  }
}

void redis_fleet::stop(node& nd) noexcept {
  if (nd.pid > 0) {
    // SIGKILL works on a stopped process too, but a continued one dies promptly and reliably.
    ::kill(nd.pid, SIGCONT);
    ::kill(nd.pid, SIGKILL);
    int status = 0;
    waitpid_no_eintr(nd.pid, &status, 0);
  }
  nd.pid = -1;
  nd.paused = false;
}

void redis_fleet::release_port(node& nd) noexcept {
  for (int* fd :
       {&nd.reservation_v4, &nd.reservation_v6, &nd.tls_reservation_v4, &nd.tls_reservation_v6}) {
    if (*fd >= 0) {
      ::close(*fd);
    }
    *fd = -1;
  }
}

void redis_fleet::reserve_new_port(node& nd) {
  release_port(nd);
  try {
    nd.port = reserve_port_pair(nd.reservation_v4, nd.reservation_v6);
    if (options_.tls) {
      // Reserved while the plain port is, so the two differ.
      nd.tls_port = reserve_port_pair(nd.tls_reservation_v4, nd.tls_reservation_v6);
    }
  } catch (...) {
    release_port(nd);
    throw;
  }
}

// Binds v4 to a free 127.0.0.1 port and, with IPv6, v6 to the same port on [::1]; returns it.
std::uint16_t redis_fleet::reserve_port_pair(int& v4, int& v6) const {
  for (int attempt = 0; attempt < 100; ++attempt) {
    v4 = bind_reservation(AF_INET, 0);
    if (v4 < 0) {
      throw std::runtime_error(errno_message("bind 127.0.0.1:0", errno));
    }
    const std::uint16_t port = bound_port(v4);
    if (!ipv6_) {
      return port;
    }
    v6 = bind_reservation(AF_INET6, port);
    if (v6 >= 0) {
      return port;
    }
    const int err = errno;
    ::close(v4);
    v4 = -1;
    if (err != EADDRINUSE) {  // the port is taken on [::1] only: pick another
      throw std::runtime_error(errno_message("bind [::1]:" + std::to_string(port), err));
    }
  }
  throw std::runtime_error("redis_fleet: no loopback port is free on both 127.0.0.1 and [::1]");
}

void redis_fleet::kill(std::size_t i) {
  stop(at(i));
}

void redis_fleet::pause(std::size_t i) {
  node& nd = at(i);
  if (!running(i)) {
    throw std::logic_error("redis_fleet: pause of node " + std::to_string(i) + ", which is down");
  }
  if (nd.paused) {
    return;  // a second SIGSTOP reports no new stop, so waiting for one would hang
  }
  ::kill(nd.pid, SIGSTOP);
  // kill() only queues the signal; wait until the process has really stopped so a command
  // sent right after pause() cannot still be served.
  int status = 0;
  if (waitpid_no_eintr(nd.pid, &status, WUNTRACED) == nd.pid && !WIFSTOPPED(status)) {
    nd.pid = -1;  // it died meanwhile
    throw std::runtime_error("redis_fleet: node " + std::to_string(i) + " " +
                             describe_exit(status) + " instead of stopping");
  }
  nd.paused = true;
}

void redis_fleet::resume(std::size_t i) {
  node& nd = at(i);
  if (!running(i)) {
    throw std::logic_error("redis_fleet: resume of node " + std::to_string(i) + ", which is down");
  }
  ::kill(nd.pid, SIGCONT);
  if (nd.paused) {
    // Symmetric to pause(): return once the process is running again.
    int status = 0;
    if (waitpid_no_eintr(nd.pid, &status, WCONTINUED) == nd.pid && !WIFCONTINUED(status)) {
      nd.pid = -1;
    }
  }
  nd.paused = false;
}

std::string redis_fleet::clock_shift_file(std::size_t i) const {
  const node& nd = at(i);
  if (!options_.clock_shift) {
    throw std::logic_error("redis_fleet: started without node_options::clock_shift");
  }
  return nd.dir + "/" + clock_shift_file_name;
}

void redis_fleet::shift_clock(std::size_t i, std::chrono::milliseconds offset) {
  const std::string path = clock_shift_file(i);
  // The shim may read at any moment: it must see the old number or the new one, never half.
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << offset.count() << "\n";
    out.close();
    if (!out) {
      throw std::runtime_error("redis_fleet: cannot write " + temp);
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(errno_message("rename " + temp + " to " + path, errno));
  }
}

void redis_fleet::restart(std::size_t i) {
  node& nd = at(i);
  stop(nd);
  try {
    start_nodes({i}, false);
  } catch (...) {
    stop(nd);
    throw;
  }
}

bool redis_fleet::running(std::size_t i) const {
  const node& nd = at(i);
  if (nd.pid > 0) {
    int status = 0;
    if (waitpid_no_eintr(nd.pid, &status, WNOHANG) == nd.pid) {
      nd.pid = -1;  // exited on its own (crash, SHUTDOWN, DEBUG SEGFAULT)
    }
  }
  return nd.pid > 0;
}

bool redis_fleet::paused(std::size_t i) const {
  return running(i) && at(i).paused;
}

pid_t redis_fleet::pid(std::size_t i) const {
  return running(i) ? at(i).pid : -1;
}

reply redis_fleet::call(std::size_t i, const std::vector<std::string>& args) const {
  const address peer = tcp4_address(
      port(i), "node " + std::to_string(i) + " (127.0.0.1:" + std::to_string(port(i)) + ")");
  return exchange(peer, auth_user_, auth_password_, args, command_timeout_);
}

reply redis_fleet::call_unix(std::size_t i, const std::vector<std::string>& args) const {
  const std::string path = unix_path(i);
  const address peer = unix_address(path, "node " + std::to_string(i) + " (" + path + ")");
  return exchange(peer, auth_user_, auth_password_, args, command_timeout_);
}

std::string redis_fleet::command(std::size_t i, const std::vector<std::string>& args) const {
  return call(i, args).render();
}

std::string redis_fleet::command_unix(std::size_t i, const std::vector<std::string>& args) const {
  return call_unix(i, args).render();
}

std::vector<std::string> redis_fleet::keys(std::size_t i, const std::string& pattern) const {
  const reply r = call(i, {"KEYS", pattern});
  if (r.type != reply::kind::array) {
    throw std::runtime_error("redis_fleet: KEYS on node " + std::to_string(i) +
                             " returned: " + r.render());
  }
  std::vector<std::string> out;
  for (const auto& e : r.elements) {
    out.push_back(e.str);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void redis_fleet::set_auth(std::string user, std::string password) {
  auth_user_ = std::move(user);
  auth_password_ = std::move(password);
}

}  // namespace redlock::testing
