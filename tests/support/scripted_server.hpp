// A scripted fake Redis server for integration tests: it plays replies no real Redis sends (an
// unsolicited reply, a RESP3 push, a wrong reply type, malformed bytes, a huge bulk length, a
// partial reply then silence, a close mid-reply), so tests can show the library survives them.
// The library connects to it like to a real server; each connection runs a test's `play`.
//
//   redlock::testing::scripted_server server([](redlock::testing::scripted_connection& c) {
//     if (!c.serve_handshake().empty()) c.send(">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n");
//   });
//   o.endpoints = {server.url()};
//
// Threads: the server listens on 127.0.0.1 on a free port (bound to port 0) and accepts on a
// background thread; every accepted connection gets its own thread, which runs `play` with that
// connection (so `play` runs concurrently with itself when several connections are open: guard
// any state it shares). A scripted_connection is meant for its own play thread only (its members
// are not thread-safe, except against the server's destructor). When `play` returns, the connection
// is closed; an exception escaping `play` terminates the process, as for any std::thread.
//
// Lifetime: the destructor stops accepting, shuts down every open connection (a read_command or
// peer_closed blocked in `play` returns at once, a send fails), joins every thread and closes
// every descriptor. It never waits on the client; it only waits for `play` to get back to a
// call of scripted_connection, so a `play` should not sleep for long (use peer_closed(wait) to
// stay silent: it returns early when the server stops). `play` may capture state owned by the
// test, provided that state outlives the server.
//
// No dependency on the library: the bytes it reads and sends are parsed and built here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace redlock::testing {

// RESP2 replies, as raw bytes for scripted_connection::send.
std::string resp_ok();                          // "+OK\r\n"
std::string resp_nil();                         // "$-1\r\n"
std::string resp_int(long long value);          // ":<value>\r\n"
std::string resp_bulk(std::string_view bytes);  // "$<len>\r\n<bytes>\r\n"
std::string resp_error(std::string_view text);  // "-<text>\r\n", e.g. resp_error("ERR no")

// Lower-case hex SHA-1 of `text`, as SCRIPT LOAD answers and EVALSHA expects.
std::string sha1_hex(std::string_view text);

class scripted_connection {
 public:
  ~scripted_connection();
  scripted_connection(const scripted_connection&) = delete;
  scripted_connection& operator=(const scripted_connection&) = delete;

  // One command from the client: a RESP array of bulk strings (`*3\r\n$3\r\nSET\r\n...`) or an
  // inline command (`PING\r\n`, split on spaces). Returns its arguments, or nullopt if no whole
  // command came within `timeout`, on EOF, on a connection error, on bytes that are not a
  // command (the connection is then unusable: later calls return nullopt too), after close(),
  // or once the server is stopping. Bytes after the command stay buffered for the next call.
  std::optional<std::vector<std::string>> read_command(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Writes `raw_bytes` verbatim and fully (blocking, MSG_NOSIGNAL). Errors are ignored: the
  // client may be gone. Does nothing after close().
  void send(std::string_view raw_bytes);

  // Closes the socket now (the client sees EOF, or a reset if it sent bytes not read yet).
  // Idempotent; also done when `play` returns.
  void close();

  // Waits up to `wait` for the client to close its side (EOF or reset) and says whether it did.
  // Bytes the client sends meanwhile are kept for read_command. False if the wait ran out, after
  // close(), or once the server is stopping (even if that stop ended the wait early).
  bool peer_closed(std::chrono::milliseconds wait);

  // Answers the library's handshake as a Redis 7.0 would: +OK to AUTH and SELECT, +PONG to PING
  // (a bulk string of its argument to PING <arg>), to INFO a bulk string holding
  // "# Server\r\nredis_version:7.0.15\r\nrun_id:<run_id>\r\nuptime_in_seconds:100\r\n", and to
  // SCRIPT LOAD <src> a bulk string of sha1_hex(src). Stops at the first other command (matched
  // case-insensitively) and returns it unanswered, or returns an empty vector if read_command
  // gave nullopt (EOF, stop, or no command within its default timeout).
  std::vector<std::string> serve_handshake(
      const std::string& run_id = "0123456789abcdef0123456789abcdef01234567");

 private:
  friend class scripted_server;
  scripted_connection(int fd, const std::atomic<bool>& stopping);

  // Reads what is available within `deadline` into buffer_. False on EOF, error, timeout, stop.
  bool fill(std::chrono::steady_clock::time_point deadline);
  // Parses one command from buffer_ into `out`; 0: incomplete, -1: malformed, 1: done.
  int parse(std::vector<std::string>& out);
  void shutdown_for_stop();  // from the server's destructor thread

  std::mutex mutex_;  // guards fd_ against close() racing the destructor's shutdown
  int fd_;
  const std::atomic<bool>& stopping_;
  std::string buffer_;
  bool eof_ = false;     // the client closed (or reset) its side
  bool broken_ = false;  // an error or malformed bytes: nothing more to read
};

class scripted_server {
 public:
  using play_fn = std::function<void(scripted_connection&)>;

  // Listens on 127.0.0.1:<free port> and starts accepting; every connection runs `play` on its
  // own thread. Throws std::runtime_error if the socket cannot be set up.
  explicit scripted_server(play_fn play);
  ~scripted_server();
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // "redis://127.0.0.1:<port>"
  // Connections accepted so far (each has started, or is about to start, its `play`).
  std::size_t connections() const { return accepted_.load(); }

 private:
  struct session {
    std::unique_ptr<scripted_connection> conn;
    std::thread thread;
  };

  void accept_loop();

  play_fn play_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // the destructor writes a byte to end accept_loop's poll
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  // Appended by the accept thread only, read by the destructor once that thread is joined. A
  // list: an element never moves while its thread runs.
  std::list<session> sessions_;
  std::thread accept_thread_;
};

}  // namespace redlock::testing
