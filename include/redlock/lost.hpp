// lease_lost: why a lease stopped holding its lock before it was released. The lease says so
// once (the acquire's on_lost callback, on the client's loop thread) and for ever after
// (lease::lost(), lease::lost_reason(), lease::wait_lost()).
#pragma once

#include <chrono>
#include <string>

#include "redlock/export.hpp"
#include "redlock/result.hpp"

namespace redlock {

struct lease_lost {
  enum class cause {
    refused,           ///< an extend or ownership check found a majority no longer holds our token
    margin_reached,    ///< validity came within the safety margin with no extension confirmed
    max_hold_reached,  ///< auto-extension stopped at acquire_options::auto_extend.max_hold
    client_closed,     ///< the client was destroyed while the lease was held; it was released
  };
  cause why = cause::margin_reached;  ///< which of the causes above
  std::string message;                ///< in words, naming the nodes and the last extend's outcome
  tally votes;                        ///< the round that decided it, when one did (refused)
  std::chrono::steady_clock::time_point at;  ///< when it was declared
};

/// What an ownership check found (lease::check_ownership): a majority still holds our token.
struct ownership {
  /// The smallest remaining ttl among the nodes of that majority (max(): a key with no expiry,
  /// which only someone else's PERSIST makes).
  std::chrono::milliseconds min_ttl{0};
  /// The lease's validity after the check: never later than before, shortened when the keys
  /// expire sooner than it said (someone changed their ttl).
  std::chrono::steady_clock::time_point valid_until;
};

/// "refused", "margin_reached", ...
REDLOCK_API const char* to_string(lease_lost::cause why) noexcept;

}  // namespace redlock
