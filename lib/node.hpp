// node: the one connection to one Redis master (hiredis 0.14 async on our own libuv glue).
//
// Lifecycle: connecting (resolve, TCP connect, AUTH, SELECT, PING, INFO server) -> ready -> down
// (backoff timer) -> connecting ... until close(). Every request has a deadline (node_timeout);
// when it passes, the connection is recycled (freed, never "disconnected", which would wait for
// replies that a paused node never sends) and every request on it fails. While the node is
// down a request fails at once, and so it does while the node reconnects (a node that failed
// counts as down until a handshake succeeds again, so a paused or dead node that still accepts
// TCP connections costs no waiting); only during the first connect attempt does a request wait
// (up to its deadline) to be sent once the handshake is done.
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
#include "node_link.hpp"
#include "redlock/health.hpp"
#include "redlock/options.hpp"

struct redisAsyncContext;

namespace redlock::detail {

struct node_config {
  endpoint where;
  // From client_options, the one place their defaults live.
  std::chrono::milliseconds node_timeout;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds reconnect_min;
  std::chrono::milliseconds reconnect_max;
  std::uint64_t seed = 0;  // of the backoff-jitter PRNG

  static node_config from(endpoint where, const client_options& options, std::uint64_t seed);
};

enum class link_state { connecting, ready, down };

class node final : public node_link {
 public:
  node(uv_loop_t* loop, loop_services& services, const clock& clock, node_config config);
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  // close() must have completed.
  ~node() override;

  // Starts the first connection attempt.
  void start();
  void send(std::shared_ptr<const command> cmd, answer_callback done) override;
  void on_change(std::function<void()> changed) override { change_listener_ = std::move(changed); }
  const std::string& name() const override { return name_; }
  const link_status& status() const override { return status_; }

  // Fails what is pending, frees the connection and closes the handles; `closed` runs once
  // everything is closed.
  void close(std::function<void()> closed);

  // State, last error, server identity, counters and latency summary, for health(); the
  // engine adds what it knows (duplicates, owed releases).
  node_health health() const;

 private:
  struct pending;
  struct glue;
  struct resolve_request;
  enum class step { user, auth, select, ping, info };

  void connect();
  void resolve();
  void open(const std::string& address);
  void attempt_failed(std::error_code code, std::string detail);
  void handshake_reply(step s, const struct reply& value);
  void become_ready(server_info server);
  void changed();
  void drop(std::error_code code, std::string detail);
  void context_gone(std::string hiredis_error);
  void schedule_reconnect();
  void issue(pending p);
  bool issue_wire(const std::string& wire);
  void fail_soon(answer_callback done, std::error_code code, std::string detail, bool maybe_ran);
  void fail_backlog(std::error_code code, const std::string& detail);
  void arm_deadline();
  void rearm_deadline();
  void on_deadline();
  void handle_closed();
  void record_latency(std::chrono::microseconds latency);

  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);

  uv_loop_t* loop_;
  loop_services& services_;
  const clock& clock_;
  node_config config_;
  std::string name_;
  std::mt19937_64 rng_;

  link_state state_ = link_state::down;
  redisAsyncContext* ac_ = nullptr;
  // Set once hiredis began freeing the context (first reply without data): nothing more may
  // be sent on it.
  bool context_dying_ = false;
  // The reason for a drop we started, given to the requests it fails.
  std::error_code drop_error_;
  std::string drop_detail_;

  std::deque<pending> inflight_;  // written to hiredis, in reply order
  std::deque<pending> backlog_;   // waiting for the handshake
  steady::time_point connect_deadline_;
  resolve_request* resolving_ = nullptr;

  uv_timer_t deadline_timer_;
  bool deadline_armed_ = false;
  uv_timer_t backoff_timer_;
  unsigned consecutive_failures_ = 0;
  bool connected_once_ = false;
  bool ever_failed_ = false;  // requests wait for a connect only before the first failure
  std::uint64_t reconnects_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t failures_ = 0;
  // Latencies (microseconds) of the last answered requests, a ring.
  std::vector<std::uint32_t> latencies_;
  std::size_t next_latency_ = 0;
  link_status status_;
  std::function<void()> change_listener_;

  bool closing_ = false;
  int open_handles_ = 2;
  std::function<void()> on_closed_;
};

}  // namespace redlock::detail
