// The failover scenario: each fault applied to real processes, measured, then lifted.
#include "failover.hpp"

#include <chrono>
#include <cstddef>
#include <string>

#include "fault_proxy.hpp"
#include "latency.hpp"
#include "redis_fleet.hpp"

namespace redlock::bench {

std::vector<row> measure_failover(const options& o, double floor_p50_us) {
  redlock::testing::redis_fleet fleet(5);
  // In slow1, node 4 is reached through a fault proxy that makes it slower than node_timeout
  // (50 ms): 40 ms each way. The other rows connect directly (the proxy's own thread would
  // take CPU from the servers).
  redlock::testing::fault_proxy proxy(fleet.port(4));
  std::vector<std::string> proxied = fleet.urls();
  proxied[4] = proxy.url();
  struct fault {
    const char* name;
    std::vector<std::size_t> killed;
    std::vector<std::size_t> paused;
    bool slow;   // node 4 answers after 80 ms
    bool fails;  // every acquire fails: p50 is the time to fail
  };
  const fault faults[] = {
      {"healthy", {}, {}, false, false},       {"killed1", {4}, {}, false, false},
      {"paused1", {}, {4}, false, false},      {"paused2", {}, {3, 4}, false, false},
      {"slow1", {}, {}, true, false},          {"down3", {2, 3, 4}, {}, false, true},
      {"paused3", {}, {2, 3, 4}, false, true},
  };
  std::vector<row> rows;
  double healthy_p50 = 0;
  for (const fault& f : faults) {
    {
      async_latency_measurer m(f.slow ? proxied : fleet.urls(), "failover", f.name, f.fails);
      m.run(std::chrono::milliseconds(200), false);  // warm, healthy connections
      for (std::size_t k : f.killed)
        fleet.kill(k);
      for (std::size_t k : f.paused)
        fleet.pause(k);
      if (f.slow) proxy.delay(std::chrono::milliseconds(40));
      double first = m.one_us();
      m.run(std::chrono::duration_cast<clock_type::duration>(
                std::chrono::duration<double>(o.seconds)),
            true);
      rows.push_back(m.summary(floor_p50_us));
      rows.back().first_us = first;
    }
    if (healthy_p50 == 0) healthy_p50 = rows.back().p50_us;
    rows.back().ratio_to_healthy = rows.back().p50_us / healthy_p50;
    proxy.pass();
    for (std::size_t k : f.paused)
      fleet.resume(k);
    for (std::size_t k : f.killed)
      fleet.restart(k);
  }
  return rows;
}

}  // namespace redlock::bench
