// Restarted-node quarantine (docs/safety.md, "Restarts"): a server that restarted without
// persistence has forgotten the keys it granted before, so it must not vote until every lock
// it may have granted earlier has expired. Each node works out, at each handshake, until when
// its server may not vote; the engine excludes it from every round but releases until then.
#pragma once

#include <chrono>
#include <string>

#include "clock.hpp"
#include "node_link.hpp"

namespace redlock::detail {

struct quarantine {
  steady::time_point until{};  // in the past (the epoch): votes
  std::string reason;          // "the server had been up 3 s (uptime_in_seconds) ...", ...
};

// After a handshake at `seen_at` with `server`, on an endpoint whose previous connection
// reached `previous_run_id` ("" if none), with `period` = the longest ttl plus its drift:
// - the server may have started as late as seen_at - uptime (uptime_in_seconds counts whole
//   seconds down), so it votes from then + period;
// - a new run_id on the endpoint may be another server altogether (an address moved to a
//   server with a long uptime), so it votes from seen_at + period.
// - except for a promotion that kept every counted key (`promotion_kept_keys`: a Sentinel
//   group whose votes counted only once all of its previous master's replicas acknowledged
//   them, docs/safety.md "Sentinel groups"), whose new run_id is the promoted replica's.
// `earlier` (this endpoint's quarantine so far) is kept if it ends later: reconnecting to a
// server never shortens its quarantine.
quarantine quarantine_after_handshake(const server_info& server, const std::string& previous_run_id,
                                      steady::time_point seen_at, steady::duration period,
                                      quarantine earlier, bool promotion_kept_keys = false);

}  // namespace redlock::detail
