// node_health: what a client knows about each of its nodes, for dashboards and alerts.
//
//   if (auto nodes = locks->health()) {
//     for (const redlock::node_health& n : *nodes) {
//       if (n.state != redlock::node_state::connected) alert(n.endpoint, n.last_error);
//     }
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace redlock {

enum class node_state {
  connected,  ///< handshake done; requests are sent at once
  /// resolving, connecting or authenticating; on the first connect requests wait (up to
  /// node_timeout), on a reconnect they fail at once
  connecting,
  down,  ///< waiting to reconnect (backoff); requests fail at once
};

struct node_health {
  std::string endpoint;                 ///< the node's URL, password masked
  node_state state = node_state::down;  ///< now (see node_state)
  /// For a Sentinel group (redis+sentinel://): the master its sentinels named last, as
  /// "host:port" (the one connected to while state is connected); empty for other endpoints
  /// and before the sentinels named one.
  std::string master;
  /// The most recent connection error in the system's or server's words ("Connection
  /// refused", "no reply within 50 ms", "AUTH refused: WRONGPASS ..."); empty if none yet.
  std::string last_error;
  std::uint64_t reconnects = 0;  ///< successful connects after the first
  std::uint64_t requests = 0;    ///< requests sent on a connection
  std::uint64_t failures = 0;    ///< of those, how many got no reply (timeout, broken connection)
  ///@{
  /// What the server said about itself (INFO server) in the current connection's handshake;
  /// empty / zero before the first handshake.
  std::string run_id;
  std::string redis_version;
  ///@}
  std::chrono::seconds uptime{0};  ///< the server's uptime_in_seconds at that handshake
  /// Set when this endpoint reaches the same server (same run_id) as an earlier connected
  /// endpoint, which it names: this one does not vote (errc::duplicate_server).
  std::string duplicate_of;
  /// Settings under which the server can lose our keys other than by a restart, one sentence
  /// each: a maxmemory_policy other than noeviction, a role other than master, cluster_enabled.
  /// Such a server does not vote unless client_options::risky_nodes_vote
  /// (errc::unsafe_server).
  std::vector<std::string> key_loss_risks;
  ///@{
  /// How much longer the server does not vote because it (re)started recently, and why
  /// (client_options::quarantine); zero and empty once it votes.
  std::chrono::milliseconds quarantine_left{0};
  std::string quarantine_reason;
  ///@}
  ///@{
  /// Releases this node may still need (its keys may be there) that could not be delivered
  /// yet, and how many of those were given up so far (the per-node cap of 4096 was full; the
  /// one whose key expires first goes). Dropped keys expire after their ttl.
  std::uint64_t owed_releases = 0;
  std::uint64_t dropped_releases = 0;
  ///@}
  ///@{
  /// Request latency (sent to answered) over the last 1024 answered requests; zero before any.
  std::chrono::microseconds latency_p50{0};
  std::chrono::microseconds latency_p99{0};
  std::chrono::microseconds latency_max{0};
  ///@}
};

}  // namespace redlock
