// node: the connection to one Redis master, on our own stream (TCP or unix socket, plain or
// TLS) with hiredis's reply reader, and the pipeline of its requests.
//
// Lifecycle: connecting (resolve, connect, TLS handshake, then AUTH, SELECT, PING,
// INFO and SCRIPT LOAD pipelined) -> ready -> down (backoff timer) -> connecting ...
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
// Subscriber mode (node_config::subscriber): the connection delivers pub/sub messages instead
// of answering commands. Its handshake stops after INFO (no scripts), then it subscribes to
// everything its owner asked for, again on every new connection. What it receives is
// classified (classify_push): a message reaches the listener, an acknowledgement must match
// the oldest SUBSCRIBE, UNSUBSCRIBE or PING in flight; anything else fails the connection as
// above. After `keepalive` without a byte from the server it sends a PING, whose answer is
// due within node_timeout like any reply: a silent dead server is recycled.
//
//   node sub(loop, services, clock, config);   // config.subscriber = true
//   sub.on_push({on_message, on_subscribed});
//   sub.start();
//   (void)sub.subscribe(subscription::channel("redlock:released:job"));
//
// Loop thread only. Answers and listeners never run inside send(), subscribe() or
// unsubscribe().
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "endpoint.hpp"
#include "loop.hpp"
#include "node/latency.hpp"
#include "node/pipeline.hpp"
#include "node/reply_reader.hpp"
#include "node/stream.hpp"
#include "node/subscriptions.hpp"
#include "node/tls.hpp"
#include "node_link.hpp"
#include "redlock/health.hpp"
#include "redlock/options.hpp"
#include "uv_handle.hpp"

namespace redlock::detail {

class sentinel_group;

struct node_config {
  endpoint where;
  // From client_options, the one place their defaults live.
  std::chrono::milliseconds node_timeout{};
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds reconnect_min{};
  std::chrono::milliseconds reconnect_max{};
  std::uint64_t seed = 0;  // of the backoff-jitter PRNG
  // Requests in flight at once; more wait unwritten, at most node_timeout, then fail with
  // errc::overloaded (they never left).
  std::size_t window = 1024;
  std::shared_ptr<const tls_context> tls;  // for rediss:// endpoints
  // A subscriber connection (see above): send() refuses commands, subscribe() works.
  bool subscriber = false;
  // Subscriber mode: a PING after this long without a byte from the server.
  std::chrono::milliseconds keepalive{1000};
  // Subscriber mode: the reconnect delay after the server refused us for good (NOPERM on the
  // channels, a wrong password): waiters fall back to their retry delay meanwhile, so this
  // need not be quick, and reconnecting every reconnect_max would only churn connections
  // (and the server's log) for as long as the ACL stays as it is.
  std::chrono::milliseconds refused_backoff{30'000};
  // How long a (re)started server may not vote (quarantine.hpp): the longest ttl plus its
  // drift; zero with the quarantine off.
  steady::duration quarantine{0};
  // A connection to a sentinel (of a sentinel_group): its handshake is a PING alone.
  bool sentinel = false;
  // A node of a Sentinel group (redis+sentinel://): the group's sentinels name the master at
  // every connect, the handshake checks that it is role:master, and a +switch-master moves the
  // connection to the new master at once.
  std::shared_ptr<sentinel_group> group;
  // client_options::replica_ack.replicas: with a group, a promotion of a replica keeps every
  // counted key when this covers all the replicas the old master had (quarantine.hpp).
  int acknowledged_replicas = 0;

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

  // Subscriber mode. `message` runs for each message through a subscription still wanted, in
  // the order the server sent them; `subscribed` each time the server confirms one still
  // wanted: after each subscribe() call that found the node connected, and on every new
  // connection (messages published while the node was not subscribed are lost, so an owner
  // waiting for one should look again at each confirmation); `unconfirmed` when the server
  // confirms an unsubscribe of one wanted again meanwhile (subscribe() after an unsubscribe()
  // not yet answered): its earlier confirmation no longer holds, and nothing comes through it
  // until the next one.
  struct push_listener {
    std::function<void(const push& message)> message;
    std::function<void(const subscription& confirmed)> subscribed;
    std::function<void(const subscription& dropped)> unconfirmed;
  };
  void on_push(push_listener listener) { push_listener_ = std::move(listener); }
  // Adds `s` to what this node subscribes to (a set: twice is once) and, when connected, sends
  // the (P)SUBSCRIBE now, so each such call is confirmed once more. invalid_option unless in
  // subscriber mode.
  result<void> subscribe(const subscription& s);
  // Removes `s`: no message through it reaches the listener from now on, and the server is
  // told when connected. Unsubscribing from what is not subscribed does nothing.
  // invalid_option unless in subscriber mode.
  result<void> unsubscribe(const subscription& s);

  // State, last error, server identity, counters and latency summary, for health(); the
  // engine adds what it knows (duplicates, owed releases).
  node_health health() const;

 private:
  enum class state { connecting, ready, down };

  void connect();
  void connect_to_address();
  void locate_master();
  void master_switched(const endpoint::address& master);
  void resolve();
  void open(const sockaddr* address);
  void on_connected();
  // What the handshake sends, in order (auth, db, ping, INFO, the scripts).
  std::vector<std::pair<request_kind, std::string>> handshake_steps() const;
  void on_received(std::string_view bytes);
  void on_reply(reply value);
  void on_push_reply(const reply& value);
  // Subscriber mode with a connection that is ready (and not closing).
  bool subscribed_mode_ready() const {
    return config_.subscriber && state_ == state::ready && stream_ != nullptr;
  }
  result<void> refuse_unless_subscriber(const char* what) const;
  void write_subscription(request_kind kind, const subscription& s);
  void handshake_reply(request_kind kind, const reply& value);
  // What the handshake's INFO says, and whether the endpoint is a Sentinel group.
  std::shared_ptr<const server_info> learned_server(std::string_view info) const;
  void note_server();
  void become_ready();
  void changed();
  // Ends the connection: requests in flight fail with `code` (each may have run), the node
  // goes down and reconnects with backoff.
  void drop(std::error_code code, std::string detail);
  void attempt_failed(std::error_code code, std::string detail, bool fail_unwritten = true);
  void schedule_reconnect();
  // A request written out of turn (a handshake step, a subscription, a keep-alive PING): in
  // flight at once, its reply due by `deadline`.
  void write_step(request_kind kind, const std::string& wire, steady::time_point deadline,
                  subscription topic = {});
  void flush_soon();
  void flush();
  void fail_soon(answer_callback done, std::error_code code, std::string detail, bool maybe_ran);
  void fail_all(std::vector<pending_request> requests, std::error_code code,
                const std::string& detail, bool maybe_ran);
  void arm_deadline();
  void on_deadline();

  uv_loop_t* loop_;
  loop_services& services_;
  const clock& clock_;
  node_config config_;
  std::string name_;
  std::mt19937_64 rng_;
  std::string last_run_id_;  // of the server the last handshake reached
  int last_replicas_ = 0;    // and its replicas (connected_slaves) then
  // Sentinel groups: the listener of +switch-master, and a handle that answers from the
  // sentinels check, so that one arriving after close() (or after a newer attempt) is ignored.
  std::uint64_t switch_listener_ = 0;
  std::shared_ptr<std::uint64_t> locating_;  // the attempt number, while one asks
  std::uint64_t attempts_ = 0;

  state state_ = state::down;
  std::shared_ptr<stream> stream_;  // while connecting or ready
  std::unique_ptr<reply_reader> reader_;
  pipeline requests_;
  std::string write_buffer_;  // flush's bytes; kept, so a flush does not allocate
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
  subscription_set subscriptions_;  // subscriber mode
  push_listener push_listener_;
  steady::time_point last_heard_;  // subscriber mode: when the server last sent a byte

  bool closing_ = false;
};

}  // namespace redlock::detail
