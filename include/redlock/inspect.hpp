// node_lock_state: what one node holds for a resource, as client::inspect reads it for
// monitoring and for the `redlock status` command. It never carries the token: the holder's
// token is what lets it release and extend, and must not leak to onlookers.
//
//   if (auto nodes = locks->inspect("orders:42")) {
//     for (const redlock::node_lock_state& n : *nodes)
//       log(n.endpoint, redlock::to_string(n.state));
//   }
#pragma once

#include <chrono>
#include <string>

#include "redlock/export.hpp"

namespace redlock {

/// Whether a node has a key for a resource.
enum class key_state {
  free,     ///< the node has no key for the resource
  held,     ///< someone's key is there (ours or another owner's)
  unknown,  ///< the node did not answer (see node_lock_state::error)
};

/// One node's key for a resource (client::inspect).
struct node_lock_state {
  std::string endpoint;  ///< the node's URL, password masked
  key_state state = key_state::unknown;
  /// While held: the key's remaining ttl on that node (max(): the key has no expiry).
  std::chrono::milliseconds ttl_left{0};
  /// Why the state is unknown, in the system's or server's words.
  std::string error;
};

/// "free", "held", "unknown"
REDLOCK_API const char* to_string(key_state state) noexcept;

}  // namespace redlock
