// The contention scenario: W clients taking turns on one resource.
#pragma once

#include <string>
#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// Contention: W async clients (one loop) take turns on one resource, each holding it for
// 1 ms, waiting by notification while it is busy (the default retry delay, 50-100 ms, is the
// fallback). ops counts acquisitions; the samples are the hand-off latency (from one owner's
// release to the next owner's grant); fairness is Jain's index over the clients'
// acquisitions (1.0: all equal); commands_per_grant counts every request the clients sent
// to the nodes (SETs, releases, clean-ups) per acquisition, from the moment every client is
// connected to every node (the handshakes, about ten requests per connection, are not
// contention: at W = 64 they alone came to several commands per grant).
row measure_contention(const std::vector<std::string>& urls, int clients, double seconds);

}  // namespace redlock::bench
