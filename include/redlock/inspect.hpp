// node_lock_state: what one node holds for a resource, as client::inspect reads it for
// monitoring and for the `redlock status` command. It never carries the token: the holder's
// token is what lets it release and extend, and must not leak to onlookers.
//
//   for (const redlock::node_lock_state& n : *locks->inspect("orders:42"))
//     std::cout << n.endpoint << ' ' << redlock::to_string(n.state) << '\n';
#pragma once

#include <chrono>
#include <string>

namespace redlock {

enum class key_state {
  free,     // the node has no key for the resource
  held,     // someone's key is there (ours or another owner's)
  unknown,  // the node did not answer (see node_lock_state::error)
};

struct node_lock_state {
  std::string endpoint;  // the node's URL, password masked
  key_state state = key_state::unknown;
  // While held: the key's remaining ttl on that node (max(): the key has no expiry).
  std::chrono::milliseconds ttl_left{0};
  // Why the state is unknown, in the system's or server's words.
  std::string error;
};

// "free", "held", "unknown"
const char* to_string(key_state state) noexcept;

}  // namespace redlock
