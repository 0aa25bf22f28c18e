// The timeline scenario: latency in 50 ms windows while one node is paused, another restarted.
#pragma once

#include <cstddef>
#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// Timeline: one async client locking and unlocking without pause for 6 s on a fleet of five,
// while node 0 is paused from 1.5 s to 3 s and node 1 is killed at 4 s and restarted at
// 4.5 s. Reported in 50 ms windows (p50, p99, errors), and as a `restart` row for the gap.
struct timeline_point {
  double t_ms;
  double p50_us;
  double p99_us;
  std::size_t ops;
  std::size_t errors;
};

std::vector<timeline_point> measure_timeline(row& restart_row);

}  // namespace redlock::bench
