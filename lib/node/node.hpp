// node: the connection to one Redis master, on our own stream (TCP or unix socket, plain or
// TLS) with hiredis's reply reader, and the pipeline of its requests.
//
// Lifecycle: connecting (resolve, connect, TLS handshake, then AUTH, SELECT, PING,
// INFO server and SCRIPT LOAD pipelined) -> ready -> down (backoff timer) -> connecting ...
// until close(). A request's reply deadline (node_timeout) counts from when it was written;
// when one passes, the connection is recycled and every request in flight on it fails (each
// may have run), while requests not yet written wait for the next connection. While the node
// is down a request fails at once, and so it does while the node reconnects (a node that
// failed counts as down until a handshake succeeds again); only during the first connect
// attempt does a request wait (up to node_timeout) to be sent once the handshake is done.
//
// No server can hurt the client: a reply that matches no request, one the reader cannot
// parse (a RESP3 push, a wrong type byte, too deep, over 1 MiB) or a connection closed
// mid-reply fails this node's connection and nothing else.
//
// Loop thread only. Answers never run inside send().
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "clock.hpp"
#include "endpoint.hpp"
#include "loop.hpp"
#include "node/latency.hpp"
#include "node/pipeline.hpp"
#include "node/reply_reader.hpp"
#include "node/stream.hpp"
#include "node/tls.hpp"
#include "node_link.hpp"
#include "redlock/health.hpp"
#include "redlock/options.hpp"
#include "uv_handle.hpp"

namespace redlock::detail {

struct node_config {
  endpoint where;
  // From client_options, the one place their defaults live.
  std::chrono::milliseconds node_timeout;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds reconnect_min;
  std::chrono::milliseconds reconnect_max;
  std::uint64_t seed = 0;  // of the backoff-jitter PRNG
  // Requests in flight at once; more wait unwritten, at most node_timeout, then fail with
  // errc::overloaded (they never left).
  std::size_t window = 1024;
  std::shared_ptr<const tls_context> tls;  // for rediss:// endpoints

  static node_config from(endpoint where, const client_options& options, std::uint64_t seed,
                          std::shared_ptr<const tls_context> tls);
};

class node final : public node_link {
 public:
  node(uv_loop_t* loop, loop_services& services, const clock& clock, node_config config);
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  // close() must have completed.
  ~node() override;

  // Starts the first connection attempt.
  void start();
  void send(std::shared_ptr<const command> cmd, answer_callback done,
            std::chrono::nanoseconds queue_budget) override;
  void on_change(std::function<void()> changed) override { change_listener_ = std::move(changed); }
  const std::string& name() const override { return name_; }
  const link_status& status() const override { return status_; }

  // Fails what is pending, closes the connection and the handles; `closed` runs once
  // everything is closed.
  void close(std::function<void()> closed);

  // State, last error, server identity, counters and latency summary, for health(); the
  // engine adds what it knows (duplicates, owed releases).
  node_health health() const;

 private:
  enum class state { connecting, ready, down };

  void connect();
  void resolve();
  void open(const sockaddr* address);
  void on_connected();
  void on_received(std::string_view bytes);
  void on_reply(reply value);
  void handshake_reply(request_kind kind, const reply& value);
  void become_ready();
  void changed();
  // Ends the connection: requests in flight fail with `code` (each may have run), the node
  // goes down and reconnects with backoff.
  void drop(std::error_code code, std::string detail);
  void attempt_failed(std::error_code code, std::string detail, bool fail_unwritten = true);
  void schedule_reconnect();
  void handshake_step(request_kind kind, std::string wire);
  void flush_soon();
  void flush();
  void fail_soon(answer_callback done, std::error_code code, std::string detail, bool maybe_ran);
  void fail_all(std::deque<pending_request> requests, std::error_code code,
                const std::string& detail, bool maybe_ran);
  void arm_deadline();
  void on_deadline();

  uv_loop_t* loop_;
  loop_services& services_;
  const clock& clock_;
  node_config config_;
  std::string name_;
  std::mt19937_64 rng_;

  state state_ = state::down;
  std::shared_ptr<stream> stream_;  // while connecting or ready
  std::unique_ptr<reply_reader> reader_;
  pipeline requests_;
  steady::time_point connect_deadline_;
  struct resolve_request;
  resolve_request* resolving_ = nullptr;
  bool flush_queued_ = false;

  uv_handle<uv_timer_t> deadline_timer_;
  steady::time_point armed_for_ = steady::time_point::max();
  uv_handle<uv_timer_t> backoff_timer_;
  unsigned consecutive_failures_ = 0;
  bool connected_once_ = false;
  bool ever_failed_ = false;  // requests wait for a connect only before the first failure
  std::uint64_t reconnects_ = 0;
  std::uint64_t requests_sent_ = 0;
  std::uint64_t failures_ = 0;
  latency_window latencies_;
  link_status status_;
  std::function<void()> change_listener_;

  bool closing_ = false;
};

}  // namespace redlock::detail
