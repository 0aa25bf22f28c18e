// fault_runner: the faults of a torture run, from a seeded schedule, acted out on the real
// processes (nodes, their proxies, the client processes), and what the driver knows from them:
// the list of faults (for the report) and when a majority of the nodes could vote (the
// checker's healthy intervals, rule 5b).
//
// Schedules (run_options::scenario):
//   healthy: none.
//   faults: every fault_interval (+-50%) one of: node SIGKILL + restart (at once or after a
//     delay), node SIGSTOP/SIGCONT, CLIENT PAUSE, SCRIPT FLUSH, client SIGSTOP/SIGCONT (when
//     client pauses are on), client SIGKILL + a new client. A node restart that loses data is
//     only started when no other node is down and the last one's quarantine (max_ttl + drift,
//     plus a second of uptime rounding) is over: the quarantine's argument assumes fewer than a
//     majority lose keys within one max_ttl (docs/safety.md, "Restarts").
//   restart_no_persistence: in cycles of about 2.2 s, node y is cut off (its proxy blackholes),
//     clients get bare majorities without it, then node x is killed and restarted at once
//     without persistence and y is let through again: with the quarantine off, x and y now
//     form a majority that does not know the locks granted on x and z.
//   clock_jump: in cycles of about 2.2 s, node x's wall clock is first set back to the real
//     time (the last cycle's jump undone), node y is cut off (its proxy blackholes), clients
//     get bare majorities of x and z, then x's clock jumps forward by run_options::clock_jump
//     (more than max_ttl: x expires every lock key at once) and y is let through again: x and y
//     now form a majority that does not know the locks granted on x and z. The undo is a
//     backward step: keys x took while shifted live that much longer in real time. That is
//     safe (a key that outlives its lease only refuses others) but costs liveness, so x counts
//     as out until the undo plus the jump plus max_ttl.
//   sentinel: the voters are Sentinel groups (master + replica + sentinels). Cycles, each after
//     0.3-1.5 s of quiet, alternating (from a seeded start) between a master kill of one group
//     (the sentinels detect it and promote its replica) and the harsh fault on a majority of the
//     groups: each replica is paused and its link cut (CLIENT KILL TYPE replica), grants go on
//     for 0.4-0.8 s, a sentinel is told SENTINEL FAILOVER, the replica is resumed and promoted
//     without the writes of the cut while the old master still grants up to the switch, then
//     the old master is killed. Each cycle ends once the killed nodes were restarted as
//     replicas of the new masters (REPLICAOF) and stream from them again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "checker.hpp"
#include "client_fleet.hpp"
#include "fault_proxy.hpp"
#include "redis_fleet.hpp"
#include "run_options.hpp"
#include "sentinel_fleet.hpp"

namespace redlock::torture {

using proxy_grid = std::vector<std::vector<std::unique_ptr<testing::fault_proxy>>>;

struct fault_event {
  time_point t;
  std::string kind;     // "node_kill_restart", "node_stop", "client_pause", ...
  std::string target;   // "n2", "c3.1"
  std::int64_t ms = 0;  // how long (pause, delay before restart), 0 when it does not apply
};

class fault_runner {
 public:
  // proxies[c][i]: client slot c's proxy to node i (a partition cuts one client only). The
  // voters are `nodes`, or in the sentinel scenario `groups` (nodes null, no proxies).
  fault_runner(const run_options& o, testing::redis_fleet* nodes, testing::sentinel_fleet* groups,
               proxy_grid& proxies, client_fleet& clients);

  // Runs the scenario's schedule until `end`.
  void run_until(time_point end);
  // Ends every fault still on: resumes nodes, restarts the ones down, lets proxies pass.
  // (The clients are resumed by client_fleet::stop_all.)
  void settle();

  // When at least a majority of the nodes could vote, within [from, to), minus the times a
  // client was killed or paused holding keys its history may not show.
  std::vector<interval> healthy(time_point from, time_point to) const;
  const std::vector<fault_event>& faults() const { return faults_; }
  // The faults as a JSON array.
  std::string faults_json() const;

 private:
  void random_fault(time_point now);
  // Returns false, starting nothing, while some node of a fenced run still lacks its seeded
  // mark: the mark's argument assumes one node without its numbers at a time (docs/safety.md).
  bool restart_cycle(time_point now);
  // double_restart: the limit of that assumption.
  void double_restart_cycle();
  void eviction_cycle();
  bool all_seeded() const;
  void clock_jump_cycle(time_point now);
  // Blocks until the cycle is over (the groups it hit acknowledge writes again).
  void sentinel_cycle();
  // The port of group g's new master once its sentinels agree on one. A forced failover
  // (`harsh`) that Sentinel aborted is asked for once more.
  std::uint16_t failed_over(testing::sentinel_fleet& f, std::size_t g, std::uint16_t old_port,
                            bool harsh);
  void note(std::string kind, std::string target, std::int64_t ms = 0);
  // Every client's proxy to node i blackholes, or passes again.
  void cut_node(std::size_t i);
  void pass_node(std::size_t i);
  // The next cycle's N - quorum nodes (one of 3, two of 5) cut off from `from` (noted, and
  // unavailable until `until` plus the reconnect); `x` is set to the node after them.
  std::vector<std::size_t> cut_minority(std::size_t& x, time_point from, time_point until);
  void unavailable(std::size_t node, time_point from, time_point to);
  void later(time_point at, std::function<void()> action);
  void run_due(time_point now);
  void restart_node(std::size_t i);  // restarts and marks the quarantine and reconnect time
  std::string node_name(std::size_t i) const { return "n" + std::to_string(i + 1); }
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }

  const run_options& o_;
  testing::redis_fleet* nodes_;
  testing::sentinel_fleet* groups_;
  std::size_t voters_;
  proxy_grid& proxies_;
  client_fleet& clients_;
  std::mt19937_64 rng_;
  std::vector<fault_event> faults_;
  std::vector<std::vector<interval>> unavailable_;  // per node
  std::vector<interval> disturbed_;                 // client kills and pauses
  std::vector<time_point> busy_until_;              // per node: no new fault before
  std::vector<bool> down_;                          // killed, restart pending
  std::vector<time_point> client_busy_until_;
  time_point next_data_loss_;  // no data-losing restart before
  std::multimap<time_point, std::function<void()>> due_;
  std::size_t cycle_ = 0;
  std::vector<bool> shifted_;  // per node: its clock is jumped (clock_jump)
  int sentinel_kind_ = -1;     // sentinel: the last cycle's (0 a master kill, 1 the harsh fault)
};

}  // namespace redlock::torture
