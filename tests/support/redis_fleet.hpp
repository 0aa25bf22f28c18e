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
// <node dir>/redis.log, which also receives the process's stdout and stderr. The file is written
// once: a restart keeps it as the server left it, as a real restart would, so what CONFIG
// REWRITE saved (a sentinel's REPLICAOF of a data node, a sentinel's own state) lasts.
//
// ACL users (Redis 7.0): each node_options::acl_users entry becomes a `user ...` directive in
// redis.conf. 7.0 refuses to combine such directives with an `aclfile`, and a conf file avoids
// the shell-like re-splitting that `--user` on the command line gets, so no aclfile is used.
//
// The servers are children of the process that built the fleet and are killed with SIGKILL
// when that parent dies (PR_SET_PDEATHSIG). Linux delivers that signal when the *thread* that
// forked exits, so build a fleet on a thread that outlives it (e.g. the main thread).
//
// TLS (node_options::tls): each node keeps its plain port (so command() and call() work as
// before) and also listens with TLS on a second free loopback port, tls_port(i), serving a
// certificate from certs(): a test CA and certificates made by the openssl CLI once per fleet in
// <dir>/certs (see test_certs.hpp). Restarts keep both ports and the certificates.
//
//   node_options o;
//   o.tls = true;                         // o.tls_auth_clients = "yes" for mutual TLS
//   redis_fleet fleet(3, o);
//   fleet.tls_url(0);                     // "rediss://127.0.0.1:<tls_port(0)>"
//   fleet.certs().ca_cert;                // the CA a client must trust
//
// Clock jumps (node_options::clock_shift): each node runs under the clock-shift shim
// (tests/support/clock_shift.c, LD_PRELOAD), which adds an offset to the wall clock that redis
// reads (gettimeofday, time, CLOCK_REALTIME), and with it to every key expiry; the monotonic clock
// is left alone. shift_clock() sets a node's offset while it runs, as a real clock jump would:
//
//   node_options o;
//   o.clock_shift = true;
//   redis_fleet fleet(3, o);
//   fleet.shift_clock(0, std::chrono::seconds(30));  // node 0 lives 30 s ahead: PX 20000 keys die
//
// Not thread-safe, except that the const members (command(), call(), keys(), ...) may run
// concurrently with each other.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_certs.hpp"

namespace redlock::testing {

// The certificate a TLS node serves; all are signed by certs().ca_cert.
enum class tls_cert {
  good,        // server_cert: SAN DNS:localhost, IP:127.0.0.1, IP:::1
  wrong_host,  // wrong_host_cert: SAN DNS:not-this-host.example only
  expired,     // expired_cert: valid for localhost, 127.0.0.1 and ::1, but expired yesterday
};

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
  // Also listen with TLS on tls_port(i), serving tls_server_cert, with certs().ca_cert as the CA
  // for client certificates (tls-port, tls-cert-file, tls-key-file, tls-ca-cert-file).
  bool tls = false;
  tls_cert tls_server_cert = tls_cert::good;
  // tls-auth-clients: "no" (the default here), "yes" (mutual TLS: a client certificate signed by
  // certs().ca_cert, e.g. certs().client_cert, is required) or "optional" (checked if sent).
  std::string tls_auth_clients = "no";
  // With tls: serve these certificates (another fleet's certs(), so that one CA covers both);
  // an empty ca_cert makes a fresh set in <dir>/certs.
  cert_set tls_certs;
  // Run each node under the clock-shift shim, with its offset in clock_shift_file(i) (0 until
  // shift_clock() writes one), so that shift_clock() can move the node's wall clock.
  bool clock_shift = false;
  // Run each node as a Redis Sentinel (`redis-server redis.conf --sentinel`) instead of a data
  // node: redis.conf then holds the port, bind, dir and log lines and extra_config (the
  // `sentinel monitor ...` directives), and a node is up once it has logged its Sentinel ID and
  // answers PING. persistence is refused with it (std::invalid_argument). With tls, a sentinel
  // reaches the servers and the other sentinels over TLS (tls-replication yes) and announces
  // its TLS port to the other sentinels.
  // sentinel_fleet.hpp builds whole Sentinel-managed groups from this.
  bool sentinel = false;
  // The fleet's directory, created by the fleet (so it must not exist yet) and removed by its
  // destructor; its parent must exist. Empty: a fresh temp dir ($TMPDIR or /tmp).
  std::string dir;
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
  // A flat key/value array (SENTINEL master, CONFIG GET, HGETALL) as a map of the rendered
  // elements; empty for anything but an array.
  std::map<std::string, std::string> fields() const;
};

// The value of "key:value" in an INFO reply (info_field(info, "role") is "master"), or "" if
// the key is missing.
std::string info_field(const std::string& info, const std::string& key);

// One connection to a server on 127.0.0.1:<port> that stays open across calls, for a client
// that sends many commands (the torture's counter store). Each call has its own timeout. A
// call that fails (timeout_error, transport_error: as redis_fleet::call) closes the
// connection, and the next call connects again; a reply is returned as it came, errors too.
class resp_link {
 public:
  resp_link(std::uint16_t port, std::chrono::milliseconds timeout);
  ~resp_link();
  resp_link(const resp_link&) = delete;
  resp_link& operator=(const resp_link&) = delete;
  reply call(const std::vector<std::string>& args);

 private:
  class connection;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<connection> open_;
};

// The RESP2 bytes of one command, as a client sends it: an array of binary-safe bulk strings
// (encode_command({"PING"}) is "*1\r\n$4\r\nPING\r\n"). call() sends these; a test that
// speaks raw bytes to a server or proxy can send them too.
std::string encode_command(const std::vector<std::string>& args);

// A redis.conf string argument: double-quoted with the escapes redis's sdssplitargs knows, so
// paths and passwords with spaces or quotes survive (conf_quote("a b") is "\"a b\"").
std::string conf_quote(const std::string& s);

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
  // The node's TLS port, distinct from port(i); throws std::logic_error unless options.tls.
  std::uint16_t tls_port(std::size_t i) const;
  std::string tls_url(std::size_t i) const;  // "rediss://127.0.0.1:<tls_port>"
  std::vector<std::string> tls_urls() const;
  // The fleet's certificates, in <dir>/certs; throws std::logic_error unless options.tls.
  const cert_set& certs() const;

  // Process faults; each acts on the real process.
  void kill(std::size_t i);  // SIGCONT + SIGKILL + waitpid; no-op if already down
  // SIGSTOP, returning once the process has stopped; no-op if paused. Throws std::logic_error
  // if the node is down.
  void pause(std::size_t i);
  // SIGCONT, returning once the process runs again. Throws std::logic_error if the node is down.
  void resume(std::size_t i);
  // Kills the node if running, starts it again on the same port (reserved meanwhile), dir and
  // redis.conf (as the server may have rewritten it), and waits until it is ready; with
  // persistence the AOF is reloaded first.
  void restart(std::size_t i);
  // Moves node i's wall clock by `offset` from the real time (negative: back), replacing any
  // earlier offset; zero undoes the shift. The file is replaced atomically (a temp file renamed
  // over it); the node reads it again on its first clock read at least 10 ms after its last
  // reading, so poll for the effect rather than expect it on the very next command. Also works
  // while the node is down or paused, and lasts across restart() (a node started with a shift
  // has it from its first clock read). Throws std::logic_error unless options.clock_shift,
  // std::runtime_error if the file cannot be written.
  void shift_clock(std::size_t i, std::chrono::milliseconds offset);
  // The node's offset file, which the shim reads (REDLOCK_CLOCK_SHIFT_FILE); it holds decimal
  // milliseconds, and a missing file means no shift. Throws std::logic_error unless
  // options.clock_shift.
  std::string clock_shift_file(std::size_t i) const;

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
    // The same for the TLS port (options.tls only).
    std::uint16_t tls_port = 0;
    int tls_reservation_v4 = -1;
    int tls_reservation_v6 = -1;
  };

  const node& at(std::size_t i) const;
  node& at(std::size_t i);
  void write_config(std::size_t i) const;
  void spawn(std::size_t i);
  void start_nodes(const std::vector<std::size_t>& which, bool may_change_port);
  void stop(node& n) noexcept;
  static void release_port(node& n) noexcept;
  void reserve_new_port(node& n);
  std::uint16_t reserve_port_pair(int& v4, int& v6) const;
  void cleanup() noexcept;

  node_options options_;
  std::string server_;
  std::string clock_shift_library_;  // options.clock_shift only
  std::string dir_;
  bool ipv6_ = false;
  std::vector<node> nodes_;
  cert_set certs_;  // options.tls only
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

// The outcome of run_program().
struct program_result {
  int status = 0;          // as from waitpid()
  bool timed_out = false;  // killed with SIGKILL at the timeout
  std::string output;      // stdout and stderr, interleaved as written

  bool ok() const;        // exited with status 0
  int exit_code() const;  // the exit status, or -1 if it did not exit normally
  // "exited with status 1", "was killed by signal 9" or "timed out".
  std::string describe() const;
};

// Runs argv to completion with stdin from /dev/null and returns how it ended and what it
// printed; a program still running at the timeout is killed. argv[0] without a '/' is looked up
// on PATH. Throws std::invalid_argument for an empty argv and std::runtime_error if the program
// is not found or cannot be started.
program_result run_program(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// The absolute path of an executable named `name` on PATH, or "" if there is none.
std::string find_program(const std::string& name);

// Why a TLS fleet cannot run (redis_unavailable_reason(), or no openssl CLI), or "" when it can.
std::string tls_unavailable_reason();

// True when the environment has REDLOCK_REQUIRE_REDIS=1: a missing server is then a test
// failure rather than a skip (CI sets it so integration tests cannot silently vanish).
bool redis_required();

}  // namespace redlock::testing

// For GoogleTest fixtures (the using file includes gtest): put it first in SetUp() or a TEST
// body, with why the test cannot run: redis_unavailable_reason() for a fleet,
// tls_unavailable_reason() for a TLS fleet (any std::string expression, "" when it can run).
// Skips the test with that reason, or fails it under REDLOCK_REQUIRE_REDIS=1, so that CI cannot
// lose integration tests to a missing server. A fatal failure in SetUp() keeps the test body
// from running.
//
//   void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(redis_unavailable_reason()); }
#define REDLOCK_REQUIRE_OR_SKIP(unavailable_reason)                    \
  do {                                                                 \
    const std::string redlock_reason_ = (unavailable_reason);          \
    if (!redlock_reason_.empty()) {                                    \
      if (::redlock::testing::redis_required()) {                      \
        FAIL() << redlock_reason_ << " (and REDLOCK_REQUIRE_REDIS=1)"; \
      } else {                                                         \
        GTEST_SKIP() << redlock_reason_;                               \
      }                                                                \
    }                                                                  \
  } while (false)
