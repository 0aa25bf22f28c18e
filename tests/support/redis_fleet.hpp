// A local fleet of real redis-server processes for integration tests, the demo program and
// benchmarks. Each node listens on a free loopback port (never a fixed one) and lives in its own
// subdirectory of a fresh temp dir; the fleet can kill, pause, resume and restart the real
// processes, and has a tiny synchronous RESP client for assertions.
//
//   redlock::testing::redis_fleet fleet(3);
//   client_options o;
//   o.endpoints = fleet.urls();
//   ...
//   fleet.kill(1);                                   // node 1 is down (SIGKILL)
//   EXPECT_EQ(fleet.command(0, {"GET", "k"}), "v");  // assertions over a direct connection
//
// Every node is started from a generated <node dir>/redis.conf (inspect it when debugging):
// --save "" (no RDB), enable-debug-command local, daemonize no, and its log in
// <node dir>/redis.log, which also receives the process's stdout and stderr.
//
// ACL users (Redis 7.0): each node_options::acl_users entry becomes a `user ...` directive in
// redis.conf. 7.0 refuses to combine such directives with an `aclfile`, and a conf file avoids
// the shell-like re-splitting that `--user` on the command line gets, so no aclfile is used.
//
// The servers are children of the process that built the fleet and are killed with SIGKILL
// when that parent dies (PR_SET_PDEATHSIG). Linux delivers that signal when the *thread* that
// forked exits, so build a fleet on a thread that outlives it (e.g. the main thread).
//
// Not thread-safe, except that the const members (command(), call(), keys(), ...) may run
// concurrently with each other.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace redlock::testing {

struct node_options {
  // true: appendonly yes + appendfsync always, so acknowledged writes survive kill -9 + restart.
  bool persistence = false;
  // Non-empty: the password of the `default` user (requirepass).
  std::string requirepass;
  // Full ACL rule lines, e.g. "user app on >secret ~* +@all"; a missing leading "user " is
  // added. Written verbatim into redis.conf, so quote with "..." as redis.conf does.
  std::vector<std::string> acl_users;
  // Also listen on a unix socket (unix_path(i)) in the node's directory.
  bool unix_socket = false;
  // How long a start or restart may take until the node answers PING.
  std::chrono::milliseconds start_timeout{5000};
  // Further redis.conf lines, verbatim (e.g. "maxmemory 10mb"). A loglevel above notice is
  // refused: the fleet knows a node is up from its "Ready to accept connections" notice.
  std::vector<std::string> extra_config;
};

// The connection to a node failed: refused (node killed), reset, closed early or a protocol
// violation. Redis error replies are not exceptions; they come back as reply::kind::error.
class transport_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The node did not answer within the command timeout (e.g. it is paused).
class timeout_error : public transport_error {
 public:
  using transport_error::transport_error;
};

// One RESP2 reply.
struct reply {
  enum class kind { status, error, integer, bulk, nil, array };
  kind type = kind::nil;
  std::string str;  // payload of status, error ("ERR ...", "WRONGPASS ...") and bulk
  long long integer = 0;
  std::vector<reply> elements;  // of an array

  bool is_error() const { return type == kind::error; }
  // Status, error and bulk strings as-is, integers in decimal, nil as "(nil)", arrays as the
  // rendering of their elements joined by '\n' (so an empty array renders as "").
  std::string render() const;
};

class redis_fleet {
 public:
  static constexpr std::chrono::milliseconds default_command_timeout{2000};

  // Starts n nodes (in parallel) and waits until each has logged "Ready to accept connections"
  // and answers PING. A node that loses its port to another process is retried on a new one.
  // Throws std::runtime_error, with the tail of the failing node's log, if redis-server is
  // missing or a node does not come up within options.start_timeout (std::invalid_argument for
  // a refused option); everything started so far is then cleaned up.
  explicit redis_fleet(std::size_t n, node_options options = {});
  // Kills (SIGCONT, SIGKILL, waitpid) every process still running and removes the temp dir.
  ~redis_fleet();
  redis_fleet(const redis_fleet&) = delete;
  redis_fleet& operator=(const redis_fleet&) = delete;

  std::size_t size() const { return nodes_.size(); }
  std::uint16_t port(std::size_t i) const;
  std::string url(std::size_t i) const;  // "redis://127.0.0.1:<port>"
  std::vector<std::string> urls() const;
  // Whether the nodes also listen on [::1] (same port); url6() is then usable.
  bool ipv6() const { return ipv6_; }
  std::string url6(std::size_t i) const;  // "redis://[::1]:<port>"; throws unless ipv6()
  // The node's unix socket; throws std::logic_error unless options.unix_socket.
  std::string unix_path(std::size_t i) const;
  std::string unix_url(std::size_t i) const;       // "unix://<unix_path(i)>"
  const std::string& dir() const { return dir_; }  // the fleet's temp dir
  std::string node_dir(std::size_t i) const;
  std::string log_path(std::size_t i) const;
  // The last `lines` lines of the node's log (for failure messages).
  std::string log_tail(std::size_t i, std::size_t lines = 20) const;
  const node_options& options() const { return options_; }

  // Process faults; each acts on the real process.
  void kill(std::size_t i);  // SIGCONT + SIGKILL + waitpid; no-op if already down
  // SIGSTOP, returning once the process has stopped; no-op if paused. Throws std::logic_error
  // if the node is down.
  void pause(std::size_t i);
  // SIGCONT, returning once the process runs again. Throws std::logic_error if the node is down.
  void resume(std::size_t i);
  // Kills the node if running, starts it again on the same port (reserved meanwhile) and dir,
  // and waits until it is ready; with persistence the AOF is reloaded first.
  void restart(std::size_t i);
  // False once the node was killed or exited on its own (a paused node is running).
  bool running(std::size_t i) const;
  bool paused(std::size_t i) const;
  pid_t pid(std::size_t i) const;  // -1 while the node is down

  // Sends one command (binary-safe arguments) over a fresh connection, after AUTH with the
  // set_auth() credentials if any, and returns the reply. If AUTH itself fails, its error
  // reply is returned instead. Throws timeout_error if the whole exchange takes longer than
  // the command timeout, and transport_error if the connection fails (e.g. node killed).
  reply call(std::size_t i, const std::vector<std::string>& args) const;
  reply call_unix(std::size_t i, const std::vector<std::string>& args) const;  // via unix_path
  // call(...).render(): e.g. "OK", "PONG", "42", "(nil)", "ERR unknown command ...".
  std::string command(std::size_t i, const std::vector<std::string>& args) const;
  std::string command_unix(std::size_t i, const std::vector<std::string>& args) const;
  // The keys on node i matching a pattern (KEYS pattern), sorted. Throws std::runtime_error
  // on an error reply.
  std::vector<std::string> keys(std::size_t i, const std::string& pattern = "*") const;

  // Credentials call()/command() use; an empty user means AUTH <password> (default user);
  // both empty means no AUTH.
  void set_auth(std::string user, std::string password);
  void set_command_timeout(std::chrono::milliseconds timeout) { command_timeout_ = timeout; }
  std::chrono::milliseconds command_timeout() const { return command_timeout_; }

 private:
  struct node {
    std::uint16_t port = 0;
    std::string dir;
    mutable pid_t pid = -1;  // mutable: running() reaps a node that exited on its own
    bool paused = false;
    // Sockets bound (SO_REUSEADDR, never listening) to 127.0.0.1:port and [::1]:port for the
    // fleet's lifetime: the kernel then never hands the port to anyone else's bind(0), even
    // while the node is down, yet redis (which also sets SO_REUSEADDR) can bind and listen.
    int reservation_v4 = -1;
    int reservation_v6 = -1;
  };

  const node& at(std::size_t i) const;
  node& at(std::size_t i);
  void write_config(std::size_t i) const;
  void spawn(std::size_t i);
  void start_nodes(const std::vector<std::size_t>& which, bool may_change_port);
  void stop(node& n) noexcept;
  static void release_port(node& n) noexcept;
  void reserve_new_port(node& n);
  void cleanup() noexcept;

  node_options options_;
  std::string server_;
  std::string dir_;
  bool ipv6_ = false;
  std::vector<node> nodes_;
  std::string auth_user_;
  std::string auth_password_;
  std::chrono::milliseconds command_timeout_ = default_command_timeout;
};

// The redis-server to run: $REDLOCK_REDIS_SERVER if set and non-empty, else "redis-server"
// found on PATH. Returns an absolute or as-given path, or "" if not found / not executable.
std::string find_redis_server();

// Why the fleet cannot run (no server, not executable, older than 7.0), or "" when it can.
// Computed once per process.
std::string redis_unavailable_reason();

// True when the environment has REDLOCK_REQUIRE_REDIS=1: a missing server is then a test
// failure rather than a skip (CI sets it so integration tests cannot silently vanish).
bool redis_required();

}  // namespace redlock::testing

// For GoogleTest fixtures (the using file includes gtest): put it first in SetUp() or a TEST
// body. Skips the test when no usable redis-server exists, or fails it under
// REDLOCK_REQUIRE_REDIS=1. A fatal failure in SetUp() keeps the test body from running.
#define REDLOCK_REQUIRE_REDIS_OR_SKIP()                                                 \
  do {                                                                                  \
    const std::string redlock_reason_ = ::redlock::testing::redis_unavailable_reason(); \
    if (!redlock_reason_.empty()) {                                                     \
      if (::redlock::testing::redis_required()) {                                       \
        FAIL() << redlock_reason_ << " (and REDLOCK_REQUIRE_REDIS=1)";                  \
      } else {                                                                          \
        GTEST_SKIP() << redlock_reason_;                                                \
      }                                                                                 \
    }                                                                                   \
  } while (false)
