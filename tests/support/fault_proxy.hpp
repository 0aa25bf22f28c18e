// A fault-injecting TCP proxy for integration tests: it listens on a free loopback port and
// forwards every connection to one redis-server on 127.0.0.1:<upstream_port>, until a test
// tells it to misbehave.
//
//   redlock::testing::redis_fleet fleet(1);
//   redlock::testing::fault_proxy proxy(fleet.port(0));
//   client_options o;
//   o.endpoints = {proxy.url()};
//   ...
//   proxy.blackhole();  // commands through the proxy now time out; the server sees nothing
//   proxy.pass();       // and work again
//
// The proxy runs its own libuv loop on a background thread, so the test thread may block on a
// synchronous client while the proxy moves the bytes. Every public member is thread-safe; the
// mode switches run on the loop thread and have taken effect when they return (connections
// they close are closed, a socket they reset has sent its RST, the listener is closed or open).
// SIGPIPE is blocked on the loop thread only, so the proxy never changes the process's signal
// disposition; clients on other threads must guard their own writes.
//
// Details per mode:
// - pass:      bytes are forwarded both ways as they arrive. Chunks still queued by an earlier
//              delay go out first, at their due time: the order of bytes is always kept.
// - delay:     every chunk read is forwarded no earlier than `each_direction` after it was read
//              (measured with steady_clock), in order, so a round trip takes at least twice that.
// - blackhole: connections are still accepted and both sides are still read, but nothing is
//              forwarded either way (chunks queued by delay are dropped too). New connections
//              still open their upstream connection, which then sees a connection but no bytes.
//              Swallowed bytes are gone for good: after pass() a connection carries new traffic
//              again, but a command that was half-swallowed stays broken.
// - reset:     every connection, open or new, is closed with RST (SO_LINGER {1,0} + close) on
//              both sides. New connections are accepted (the kernel completes the handshake
//              anyway) and reset right away.
// - refuse:    the listening socket is closed and open connections are reset: connects fail
//              with ECONNREFUSED. The port stays reserved (see port()); any other mode listens on
//              it again.
// - cut_after: like pass, but each connection may send at most `bytes` more client->server
//              bytes, counted from the cut_after() call (or from accept for newer connections).
//              The chunk that crosses the limit is not forwarded past it: the bytes up to the
//              limit are handed on, then both sides of the connection are reset at once (so the
//              server may or may not get that last prefix; it never gets a byte beyond it).
//
// A connection whose client or server closes (EOF, error or reset) is closed on both sides
// (plainly, no RST) once the chunks delay still holds for it are written; half-closes are not
// propagated. If the upstream cannot be reached, accepted clients are closed the same way.
// There is no flow control: the proxy reads as fast as it can and buffers what it has not
// written yet, which is fine for test traffic.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace redlock::testing {

class fault_proxy {
 public:
  enum class mode {
    pass,       // forward bytes both ways
    delay,      // forward each chunk after a fixed latency per direction, in order
    blackhole,  // accept and read, never forward nor answer
    reset,      // RST every connection, existing and new
    refuse,     // not listening: connects get ECONNREFUSED
    cut_after,  // forward N more client->server bytes per connection, then RST it
  };

  // Reserves a free port on 127.0.0.1, listens on it and starts the loop thread, in pass mode.
  // Throws std::runtime_error if any of that fails. The upstream is only connected to when a
  // client connects (once per client connection).
  explicit fault_proxy(std::uint16_t upstream_port);
  // Closes every connection and the listener, joins the loop thread and closes every fd it
  // opened, including bytes still queued by delay (they are dropped).
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  // Fixed for the proxy's lifetime. A socket bound to it (SO_REUSEADDR, never listening) is
  // held from construction to destruction, so neither bind(0) nor a connect's ephemeral port
  // can take it, not even in refuse mode; the listener (also SO_REUSEADDR) binds beside it.
  std::uint16_t port() const;
  std::string url() const;  // "redis://127.0.0.1:<port>"

  void pass();
  // Throws std::invalid_argument for a negative latency.
  void delay(std::chrono::milliseconds each_direction);
  void blackhole();
  void reset();
  void refuse();
  void cut_after(std::size_t bytes);

  mode current() const;
  // Client connections accepted since construction, including those reset at once.
  std::size_t connections_accepted() const;
  // Client connections accepted and not closed yet (a closed one stops counting at once, even
  // though libuv releases its handles an iteration later).
  std::size_t open_connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace redlock::testing
