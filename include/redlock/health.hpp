// node_health: what a client knows about each of its nodes, for dashboards and alerts.
//
//   for (const redlock::node_health& n : locks->health()) {
//     if (n.state != redlock::node_state::connected) alert(n.endpoint, n.last_error);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace redlock {

enum class node_state {
  connected,   // handshake done; requests are sent at once
  connecting,  // resolving, connecting or authenticating; requests wait (up to node_timeout)
  down,        // waiting to reconnect (backoff); requests fail at once
};

struct node_health {
  std::string endpoint;  // the node's URL, password masked
  node_state state = node_state::down;
  // The most recent connection error in the system's or server's words ("Connection
  // refused", "no reply within 50 ms", "AUTH refused: WRONGPASS ..."); empty if none yet.
  std::string last_error;
  std::uint64_t reconnects = 0;  // successful connects after the first
  std::uint64_t requests = 0;    // requests sent on a connection
  std::uint64_t failures = 0;    // of those, how many got no reply (timeout, broken connection)
  // Request latency (sent to answered) over the last 1024 answered requests; zero before any.
  std::chrono::microseconds latency_p50{0};
  std::chrono::microseconds latency_p99{0};
  std::chrono::microseconds latency_max{0};
};

}  // namespace redlock
