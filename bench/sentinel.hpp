// The sentinel scenario: voters that are Sentinel-managed groups (redis+sentinel://), with and
// without replica acknowledgement, and how soon a group votes again after its master dies.
#pragma once

#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// A fleet of three Sentinel groups of its own (tests/support/sentinel_fleet.hpp). First the
// acquire latency with replica_ack.replicas = 0 and = 1, on the blocking and the async client,
// interleaved with the floors on the groups' current masters in the same run. Then, for each
// group in turn, its master is killed and two clients (acknowledgement off and on) poll until
// the group's vote is granted again; the sentinels' switch is timed beside it.
std::vector<row> measure_sentinel(const options& o);

}  // namespace redlock::bench
