// The failover scenario: latency on a fleet of five while nodes are killed, paused or slow.
#pragma once

#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// Failover: a fleet of five of its own; each fault is applied to real processes (SIGKILL,
// SIGSTOP), measured with a fresh async client, then lifted. Rows run one after the other,
// each against the healthy row of the same fleet.
std::vector<row> measure_failover(const options& o, double floor_p50_us);

}  // namespace redlock::bench
