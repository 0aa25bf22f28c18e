// What the quorum engine needs from one node: send a command, get exactly one answer later,
// and know what the node's current connection learned about its server.
// The real implementation is `node` (hiredis on libuv); unit tests use fakes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "clock.hpp"
#include "resp.hpp"

namespace redlock::detail {

// What a connection's handshake learned from `INFO`.
struct server_info {
  std::string run_id;  // 40 hex digits, new on every server start
  // master_replid: a master keeps it for its life as master; a promotion makes a new one.
  std::string replication_id;
  std::string redis_version;
  std::chrono::seconds uptime{0};  // uptime_in_seconds at the handshake
  std::string role;                // "master", "slave", ...; empty if INFO had none
  bool aof_enabled = false;        // appendonly yes: WAITAOF can wait for the disk too
  int replicas = 0;                // connected_slaves: a master's replicas at the handshake
  // Reached through a Sentinel group, where the master can be a replica promoted since (set by
  // the node, not by INFO): its fence hash may be its old master's (fence_seeder.hpp).
  bool promotable = false;
  // Settings under which the server can lose our keys other than by a restart, one sentence
  // each ("maxmemory_policy is allkeys-lru: ..."): an evicting maxmemory_policy, a role other
  // than master, cluster_enabled:1.
  std::vector<std::string> key_loss_risks;
};

// Parses the `INFO` text; an empty run_id means the reply had none.
server_info parse_server_info(std::string_view info);

// The outcome of one request to one node.
struct node_answer {
  std::error_code error;  // empty: `value` holds the node's reply (which may be an error reply)
  std::string detail;     // the system's or server's words for `error`
  reply value;
  // False only when the request certainly never reached the node (it was down, or the
  // request expired before it could be written). Otherwise the node may have run it, even
  // if we never saw the answer.
  bool maybe_ran = true;
  std::chrono::microseconds latency{0};
  // The server that answered (from its connection's handshake); null without a reply.
  std::shared_ptr<const server_info> server;
};

using answer_callback = std::function<void(node_answer)>;

// A node's connection as the engine sees it.
struct link_status {
  bool ready = false;  // handshake done: requests are written at once
  // Why the last connection attempt failed or the connection was dropped (node_down,
  // handshake_failed, config_refused, ...), kept after a reconnect succeeds; empty if never.
  std::error_code last_error;
  std::string last_detail;
  // The server of the current connection; null while not ready.
  std::shared_ptr<const server_info> server;
  // Until when the endpoint's server may not vote (restarted recently: quarantine.hpp), and
  // why; kept across connections.
  steady::time_point quarantined_until{};
  std::string quarantine_reason;
};

class node_link {
 public:
  virtual ~node_link() = default;

  // Sends `cmd`. `done` runs exactly once, on the loop thread, and never inside send().
  // `queue_budget`: how long the request may wait for room among the requests in flight,
  // counted from its first chance to be written; past it, it fails with errc::overloaded
  // without having left.
  virtual void send(std::shared_ptr<const command> cmd, answer_callback done,
                    std::chrono::nanoseconds queue_budget) = 0;
  // `changed` runs on the loop thread after every successful (re)connect and every failed
  // attempt or dropped connection, never inside a call the engine made.
  virtual void on_change(std::function<void()> changed) = 0;
  // The node's URL for reports, password masked.
  virtual const std::string& name() const = 0;
  virtual const link_status& status() const = 0;
};

// Deferred and delayed work on the loop thread.
class scheduler {
 public:
  using timer_id = std::uint64_t;
  virtual ~scheduler() = default;
  // Runs `fn` soon on the loop thread, never inside the caller.
  virtual void defer(std::function<void()> fn) = 0;
  // Runs `fn` after `delay` unless cancelled first.
  virtual timer_id schedule(std::chrono::nanoseconds delay, std::function<void()> fn) = 0;
  // Cancels a scheduled call; returns false when it already ran or was cancelled.
  virtual bool cancel(timer_id id) = 0;
};

}  // namespace redlock::detail
