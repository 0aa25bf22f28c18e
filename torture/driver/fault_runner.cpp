#include "fault_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "flat_json.hpp"

namespace redlock::torture {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// After a node fault ends, the clients' connections come back within their reconnect backoff
// (client_options::reconnect_max, 1 s) and a node timeout.
constexpr milliseconds reconnect_time{1200};
// A restarted node's quarantine, as a client sees it: max_ttl + drift, and up to a second more
// because uptime_in_seconds counts whole seconds down.
constexpr milliseconds quarantine_time = max_ttl + milliseconds(1100);
// A client killed or paused may hold keys (auto-extended after its last record) for a ttl.
constexpr milliseconds disturbance_time = max_ttl + milliseconds(300);

}  // namespace

fault_runner::fault_runner(const run_options& o, testing::redis_fleet* nodes,
                           testing::sentinel_fleet* groups, proxy_grid& proxies,
                           client_fleet& clients)
    : o_(o),
      nodes_(nodes),
      groups_(groups),
      voters_(groups != nullptr ? groups->size() : nodes->size()),
      proxies_(proxies),
      clients_(clients),
      rng_(o.seed ^ 0x9e3779b97f4a7c15ULL),
      unavailable_(voters_),
      busy_until_(voters_),
      down_(voters_, false),
      client_busy_until_(clients.size()),
      shifted_(voters_, false) {}

void fault_runner::note(std::string kind, std::string target, std::int64_t ms) {
  faults_.push_back({steady_clock::now(), std::move(kind), std::move(target), ms});
  if (o_.verbose) {
    const fault_event& f = faults_.back();
    std::fprintf(stderr, "fault %s %s %lld ms\n", f.kind.c_str(), f.target.c_str(),
                 static_cast<long long>(f.ms));
  }
}

void fault_runner::cut_node(std::size_t i) {
  for (auto& row : proxies_)
    row[i]->blackhole();
}

void fault_runner::pass_node(std::size_t i) {
  for (auto& row : proxies_)
    if (row[i]->current() != testing::fault_proxy::mode::pass) row[i]->pass();
}

void fault_runner::unavailable(std::size_t node, time_point from, time_point to) {
  unavailable_[node].push_back({from, to});
}

void fault_runner::later(time_point at, std::function<void()> action) {
  due_.emplace(at, std::move(action));
}

void fault_runner::run_due(time_point now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    auto action = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    action();
  }
}

void fault_runner::restart_node(std::size_t i) {
  const time_point from = steady_clock::now();
  nodes_->restart(i);
  down_[i] = false;
  const time_point ready = steady_clock::now();
  const bool forgets = !o_.persistence;
  unavailable(i, from,
              ready + reconnect_time + (o_.quarantine ? quarantine_time : milliseconds(0)));
  if (forgets) next_data_loss_ = ready + quarantine_time + milliseconds(1000);
  busy_until_[i] = std::max(busy_until_[i], ready + reconnect_time);
}

void fault_runner::run_until(time_point end) {
  time_point next = steady_clock::now() + o_.fault_interval;
  while (steady_clock::now() < end) {
    const time_point now = steady_clock::now();
    run_due(now);
    if (now >= next && o_.scenario != scenario::healthy) {
      const auto base = o_.fault_interval.count();
      if (o_.scenario == scenario::faults) {
        random_fault(now);
        next = now + milliseconds(uniform(base / 2, base + base / 2));
      } else if (o_.scenario == scenario::clock_jump) {
        clock_jump_cycle(now);
        next = now + milliseconds(2200);
      } else if (o_.scenario == scenario::eviction) {
        eviction_cycle();
        next = now + milliseconds(2200);
      } else if (o_.scenario == scenario::sentinel) {
        sentinel_cycle();
        next = steady_clock::now() + milliseconds(uniform(300, 1500));
      } else if (o_.scenario == scenario::double_restart) {
        double_restart_cycle();
        next = now + milliseconds(4400);
      } else {
        next = now + milliseconds(restart_cycle(now) ? 2200 : 50);
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

void fault_runner::random_fault(time_point now) {
  const bool pauses =
      o_.client_pauses == 1 || (o_.client_pauses == -1 && o_.effects == effect_mode::fenced);
  // Node faults on a free node; client faults on a client that is not paused.
  std::vector<std::size_t> free_nodes;
  for (std::size_t i = 0; i < nodes_->size(); ++i)
    if (busy_until_[i] <= now && !down_[i]) free_nodes.push_back(i);
  const bool any_down = std::find(down_.begin(), down_.end(), true) != down_.end();
  const std::int64_t kind = uniform(0, 99);
  if (kind < 50 && !free_nodes.empty()) {
    const std::size_t i = free_nodes[static_cast<std::size_t>(
        uniform(0, static_cast<std::int64_t>(free_nodes.size()) - 1))];
    const std::string name = node_name(i);
    // Without persistence a kill loses data: one node without its numbers at a time, as the
    // quarantine and the seeded mark assume (docs/safety.md).
    const bool may_kill = !any_down && now >= next_data_loss_ &&
                          (o_.persistence || o_.fencing == 0 || (kind < 20 && all_seeded()));
    if (kind < 20 && may_kill) {
      const time_point killed = steady_clock::now();
      nodes_->kill(i);
      down_[i] = true;
      if (kind < 10) {
        note("node_kill_restart", name);
        restart_node(i);
      } else {
        const std::int64_t delay = uniform(300, 2500);
        note("node_kill_restart_later", name, delay);
        busy_until_[i] = killed + milliseconds(delay);
        next_data_loss_ = killed + milliseconds(delay) + quarantine_time + milliseconds(1000);
        later(killed + milliseconds(delay), [this, i] { restart_node(i); });
      }
      return;
    }
    if (kind < 32) {
      const std::int64_t ms = uniform(200, 1500);
      note("node_stop", name, ms);
      const time_point from = steady_clock::now();
      nodes_->pause(i);
      busy_until_[i] = from + milliseconds(ms) + reconnect_time;
      unavailable(i, from, from + milliseconds(ms) + reconnect_time);
      later(from + milliseconds(ms), [this, i] {
        if (nodes_->paused(i)) nodes_->resume(i);
      });
      return;
    }
    if (kind < 42) {
      const std::int64_t ms = uniform(200, 1000);
      note("node_client_pause", name, ms);
      const time_point from = steady_clock::now();
      try {
        (void)nodes_->call(i, {"CLIENT", "PAUSE", std::to_string(ms)});
      } catch (const std::exception& e) {
        std::fprintf(stderr, "CLIENT PAUSE on %s failed: %s\n", name.c_str(), e.what());
      }
      busy_until_[i] = from + milliseconds(ms) + reconnect_time;
      unavailable(i, from, from + milliseconds(ms) + reconnect_time);
      return;
    }
    note("node_script_flush", name);
    try {
      (void)nodes_->call(i, {"SCRIPT", "FLUSH"});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "SCRIPT FLUSH on %s failed: %s\n", name.c_str(), e.what());
    }
    return;
  }
  // A client fault.
  std::vector<std::size_t> free_clients;
  for (std::size_t c = 0; c < clients_.size(); ++c)
    if (client_busy_until_[c] <= now && !clients_.paused(c)) free_clients.push_back(c);
  if (free_clients.empty()) return;
  const std::size_t c = free_clients[static_cast<std::size_t>(
      uniform(0, static_cast<std::int64_t>(free_clients.size()) - 1))];
  if (kind < 68) {
    // A partition: the client reaches only some nodes (1 to N - 1 cut off: a minority leaves
    // it working, a majority leaves it unable to take, extend or release anything).
    std::vector<std::size_t> order(nodes_->size());
    for (std::size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    order.resize(static_cast<std::size_t>(uniform(1, static_cast<std::int64_t>(order.size()) - 1)));
    // How the links fail: silence, a reset of every connection, connections refused, or
    // 60-200 ms of delay each way (slower than the node timeout).
    const std::int64_t ms = uniform(300, 2000);
    const std::int64_t how = uniform(0, 3);
    const char* kinds[] = {"client_partition", "client_link_reset", "client_link_refuse",
                           "client_link_delay"};
    const milliseconds lag(uniform(60, 200));
    std::string cut;
    for (std::size_t i : order)
      cut += (cut.empty() ? "" : "+") + node_name(i);
    note(kinds[how], clients_.name(c) + ":" + cut, ms);
    const time_point from = steady_clock::now();
    for (std::size_t i : order) {
      testing::fault_proxy& link = *proxies_[c][i];
      if (how == 0) link.blackhole();
      if (how == 1) link.reset();
      if (how == 2) link.refuse();
      if (how == 3) link.delay(lag);
    }
    disturbed_.push_back({from, from + milliseconds(ms) + disturbance_time});
    client_busy_until_[c] = from + milliseconds(ms) + milliseconds(500);
    later(from + milliseconds(ms), [this, c, order] {
      for (std::size_t i : order)
        proxies_[c][i]->pass();
    });
    return;
  }
  if (pauses && kind < 85) {
    const std::int64_t ms = uniform(100, 2500);
    note("client_pause", clients_.name(c), ms);
    clients_.pause(c);
    const time_point from = steady_clock::now();
    disturbed_.push_back({from, from + milliseconds(ms) + disturbance_time});
    client_busy_until_[c] = from + milliseconds(ms) + milliseconds(500);
    later(from + milliseconds(ms), [this, c] { clients_.resume(c); });
    return;
  }
  note("client_kill", clients_.name(c));
  const time_point from = steady_clock::now();
  clients_.kill_and_replace(c);
  disturbed_.push_back({from, from + disturbance_time});
  client_busy_until_[c] = from + milliseconds(1000);
}

bool fault_runner::all_seeded() const {
  for (std::size_t i = 0; i < nodes_->size(); ++i) {
    try {
      if (nodes_->command(i, {"HEXISTS", "redlock:", ""}) != "1") return false;
    } catch (const std::exception&) {
      return false;  // not answering yet
    }
  }
  return true;
}

std::vector<std::size_t> fault_runner::cut_minority(std::size_t& x, time_point from,
                                                    time_point until) {
  const std::size_t n = nodes_->size();
  std::vector<std::size_t> cut;
  for (std::size_t k = 0; k + (n / 2 + 1) < n; ++k)
    cut.push_back((cycle_ + k) % n);
  x = (cycle_ + cut.size()) % n;
  ++cycle_;
  for (std::size_t y : cut) {
    note("proxy_blackhole", node_name(y), (until - from) / milliseconds(1));
    cut_node(y);
    unavailable(y, from, until + reconnect_time);
  }
  return cut;
}

bool fault_runner::restart_cycle(time_point now) {
  (void)now;
  if (std::find(down_.begin(), down_.end(), true) != down_.end()) return false;  // delayed
  if (o_.fencing != 0 && !all_seeded()) return false;
  // The N - quorum nodes Y are cut off (one of 3, two of 5), so that the grants are bare
  // majorities; then x, one node of those majorities, forgets: x and Y form a majority.
  std::size_t x = 0;
  const time_point from = steady_clock::now();
  const time_point restart_at = from + milliseconds(1100);
  const std::vector<std::size_t> cut = cut_minority(x, from, restart_at);
  later(restart_at, [this, x, cut] {
    nodes_->kill(x);
    down_[x] = true;
    if (o_.restart_delay.count() > 0) {
      // The mitigated twin of the quarantine: the node comes back only after every lock it
      // held has expired everywhere.
      note("node_kill_restart_later", node_name(x), o_.restart_delay.count());
      const time_point killed = steady_clock::now();
      busy_until_[x] = killed + o_.restart_delay;
      unavailable(x, killed, busy_until_[x]);
      later(busy_until_[x], [this, x] { restart_node(x); });
    } else {
      note("node_kill_restart", node_name(x));
      restart_node(x);
    }
    for (std::size_t y : cut) {
      note("proxy_pass", node_name(y));
      pass_node(y);
    }
  });
  return true;
}

// Node z's proxy blackholes, so that the clients' fenced grants are written back to x and y
// only; 1.1 s later x and y are both SIGKILLed and restarted without persistence, and z's proxy
// passes again. The numbers of those grants are then on no node: the seeded mark cannot bring
// them back (docs/safety.md: one node without its numbers at a time), and the next holder's
// number is smaller. Mutual exclusion holds (x and y sit out their quarantines, longer than
// every lock), so the violations are fence inversions.
void fault_runner::double_restart_cycle() {
  const std::size_t n = nodes_->size();
  const std::size_t z = cycle_ % n;
  const std::size_t x = (cycle_ + 1) % n;
  const std::size_t y = (cycle_ + 2) % n;
  ++cycle_;
  note("proxy_blackhole", node_name(z), 1100);
  const time_point from = steady_clock::now();
  cut_node(z);
  const time_point restart_at = from + milliseconds(1100);
  unavailable(z, from, restart_at + reconnect_time);
  later(restart_at, [this, x, y, z] {
    for (std::size_t i : {x, y}) {
      note("node_kill_restart", node_name(i));
      nodes_->kill(i);
      down_[i] = true;
    }
    restart_node(x);
    restart_node(y);
    note("proxy_pass", node_name(z));
    pass_node(z);
  });
}

// The N - quorum nodes Y are cut off, so that the grants are bare majorities; 0.6 s later a
// script writes 10 MiB of keys without a ttl into node x, one node of those majorities, past
// its maxmemory; 0.5 s later they are deleted and Y pass again. Under volatile-lru, x's next
// command evicts every key with a ttl, our lock keys: x and Y then form a majority that
// knows nothing of the locks held, and the checker must find overlaps. Under noeviction
// nothing is evicted (x refuses writes while full) and nothing may overlap.
void fault_runner::eviction_cycle() {
  std::size_t x = 0;
  const time_point from = steady_clock::now();
  const time_point fill_at = from + milliseconds(600);
  const time_point clean_at = from + milliseconds(1100);
  const std::vector<std::size_t> cut = cut_minority(x, from, clean_at);
  const std::string keys = std::to_string(eviction_filler_keys);
  later(fill_at, [this, x, keys, clean_at] {
    note("node_fill", node_name(x), 500);
    unavailable(x, steady_clock::now(), clean_at + reconnect_time);
    try {
      nodes_->command(x, {"EVAL",
                          "for i = 1, tonumber(ARGV[1]) do "
                          "redis.call('SET', 'filler:' .. i, string.rep('x', 4096)) end",
                          "0", keys});
    } catch (const std::exception&) {
      // Refused or cut short (noeviction): the node is full either way.
    }
  });
  later(clean_at, [this, x, cut, keys] {
    note("node_unfill", node_name(x));
    try {
      nodes_->command(
          x, {"EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('DEL', 'filler:' .. i) end", "0",
              keys});
    } catch (const std::exception&) {
    }
    for (std::size_t y : cut) {
      note("proxy_pass", node_name(y));
      pass_node(y);
    }
  });
}

void fault_runner::clock_jump_cycle(time_point now) {
  (void)now;
  const std::size_t n = nodes_->size();
  const std::size_t y = cycle_ % n;
  const std::size_t x = (cycle_ + 1) % n;
  ++cycle_;
  // Undo the last cycle's jump before this one's blackhole (a backward step: see the header).
  for (std::size_t i = 0; i < n; ++i)
    if (shifted_[i]) {
      note("clock_restore", node_name(i));
      const time_point at = steady_clock::now();
      nodes_->shift_clock(i, milliseconds(0));
      shifted_[i] = false;
      unavailable(i, at, at + o_.clock_jump + max_ttl + reconnect_time);
    }
  note("proxy_blackhole", node_name(y), 1100);
  const time_point from = steady_clock::now();
  cut_node(y);
  const time_point jump_at = from + milliseconds(1100);
  unavailable(y, from, jump_at + reconnect_time);
  later(jump_at, [this, x, y] {
    note("clock_jump", node_name(x), o_.clock_jump.count());
    const time_point at = steady_clock::now();
    nodes_->shift_clock(x, o_.clock_jump);
    shifted_[x] = true;
    // Until the next cycle's undo, and after it (the undo's own span).
    unavailable(x, at, at + milliseconds(1100) + o_.clock_jump + max_ttl + reconnect_time);
    note("proxy_pass", node_name(y));
    pass_node(y);
  });
}

std::uint16_t fault_runner::failed_over(testing::sentinel_fleet& f, std::size_t g,
                                        std::uint16_t old_port, bool harsh) {
  if (!harsh) return f.wait_for_failover(g, old_port);
  try {
    return f.wait_for_failover(g, old_port, milliseconds(8000));
  } catch (const std::runtime_error&) {
    // Sentinel can abort a forced failover: another sentinel, still on the old master, turns
    // the replica being promoted back into its replica (-failover-abort-slave-timeout, seen in
    // CI). The replica is resumed by now: this second failover is an ordinary one.
    const std::string name = f.master_name(g);
    note("group_failover_again", name);
    testing::redis_fleet& s = f.sentinels(g);
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s.command(i, {"SENTINEL", "FAILOVER", name}) == "OK") break;
    }
    return f.wait_for_failover(g, old_port);
  }
}

void fault_runner::sentinel_cycle() {
  testing::sentinel_fleet& f = *groups_;
  const std::size_t n = f.size();
  sentinel_kind_ = sentinel_kind_ < 0 ? static_cast<int>(uniform(0, 1)) : 1 - sentinel_kind_;
  const bool harsh = sentinel_kind_ == 1;
  // A master kill hits one group; the harsh fault a majority, so that a lock granted during
  // the cut is on no group of the next majority once they are promoted.
  std::vector<std::size_t> hit;
  const std::size_t first = static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(n) - 1));
  for (std::size_t k = 0; k < (harsh ? n / 2 + 1 : 1); ++k)
    hit.push_back((first + k) % n);
  // Until the sentinels see a replica they can promote: the master's INFO lists a rejoined
  // replica before every sentinel has it up again, and a kill then leaves no failover (seed 25
  // of `--scenario sentinel --replica-acks 0` waited for one for 20 s).
  for (std::size_t g : hit)
    f.wait_settled(g);
  const time_point from = steady_clock::now();
  std::vector<std::uint16_t> old_port;
  std::vector<std::size_t> master, replica;
  for (std::size_t g : hit) {
    master.push_back(f.master_node(g));
    old_port.push_back(f.data_port(g, master.back()));
    replica.push_back(f.replica_node(g));
  }
  if (harsh) {
    // A paused replica would still find the writes in its socket when resumed: the master
    // drops the link, and the replica cannot reconnect while paused.
    const std::int64_t window = uniform(400, 800);
    for (std::size_t k = 0; k < hit.size(); ++k) {
      note("group_cut_replica", f.master_name(hit[k]), window);
      f.data_nodes(hit[k]).pause(replica[k]);
      (void)f.data_nodes(hit[k]).command(master[k], {"CLIENT", "KILL", "TYPE", "replica"});
    }
    std::this_thread::sleep_for(milliseconds(window));
    // One sentinel fails over at once (the others learn it from its hello). Its REPLICAOF NO ONE
    // waits in the paused replica's socket, and runs before the replica's next attempt to
    // reconnect to its master: the replica becomes master without the writes of the cut,
    // while the old master still grants (the grants go on up to the switch).
    for (std::size_t k = 0; k < hit.size(); ++k) {
      const std::string name = f.master_name(hit[k]);
      testing::redis_fleet& s = f.sentinels(hit[k]);
      note("group_failover", name);
      std::size_t by = s.size();
      for (std::size_t i = 0; i < s.size() && by == s.size(); ++i)
        if (s.command(i, {"SENTINEL", "FAILOVER", name}) == "OK") by = i;
      const time_point give_up = steady_clock::now() + milliseconds(3000);
      while (by < s.size() && steady_clock::now() < give_up) {
        const std::string state =
            s.call(by, {"SENTINEL", "master", name}).fields()["failover-state"];
        if (state != "none" && state != "wait_start" && state != "select_slave") break;
        std::this_thread::sleep_for(milliseconds(10));
      }
      f.data_nodes(hit[k]).resume(replica[k]);
    }
  }
  std::vector<std::size_t> killed;
  if (!harsh) {
    note("group_kill_master", f.master_name(hit[0]));
    killed.push_back(f.kill_master(hit[0]));
  }
  std::vector<std::uint16_t> new_port;
  for (std::size_t k = 0; k < hit.size(); ++k) {
    new_port.push_back(failed_over(f, hit[k], old_port[k], harsh));
    note("group_promoted", f.master_name(hit[k]) + ":" + std::to_string(new_port.back()));
  }
  // The old masters of the harsh fault, still up with the grants of the cut, die now.
  for (std::size_t k = 0; harsh && k < hit.size(); ++k) {
    note("group_kill_old_master", f.master_name(hit[k]));
    killed.push_back(master[k]);
    f.data_nodes(hit[k]).kill(killed.back());
  }
  // The old master comes back empty (no persistence) and is made a replica of the new one at
  // once: the sentinels would do it about 10 s later.
  for (std::size_t k = 0; k < hit.size(); ++k) {
    testing::redis_fleet& data = f.data_nodes(hit[k]);
    data.restart(killed[k]);
    (void)data.command(killed[k], {"REPLICAOF", "127.0.0.1", std::to_string(new_port[k])});
    note("group_rejoin", f.master_name(hit[k]));
  }
  // The group acknowledges again once its new master streams to the rejoined replica.
  const time_point deadline = steady_clock::now() + milliseconds(20'000);
  for (std::size_t k = 0; k < hit.size(); ++k) {
    const std::size_t g = hit[k];
    for (;;) {
      try {
        if (f.lists_online(g, f.data_nodes(g).command(f.master_node(g), {"INFO", "replication"}),
                           killed[k]))
          break;
      } catch (const std::exception&) {
        // A failover under way: ask again.
      }
      if (steady_clock::now() >= deadline)
        throw std::runtime_error(f.master_name(g) + ": the rejoined node does not stream\n" +
                                 f.log_tails(g));
      std::this_thread::sleep_for(milliseconds(50));
    }
    note("group_acknowledges", f.master_name(g));
    unavailable(g, from, steady_clock::now() + reconnect_time);
  }
}

void fault_runner::settle() {
  due_.clear();
  // The sentinel cycles end with every group whole again.
  for (std::size_t i = 0; nodes_ != nullptr && i < nodes_->size(); ++i) {
    if (shifted_[i]) {
      note("clock_restore", node_name(i));
      nodes_->shift_clock(i, milliseconds(0));
      shifted_[i] = false;
    }
    if (nodes_->paused(i)) nodes_->resume(i);
    if (down_[i] || !nodes_->running(i)) restart_node(i);
    pass_node(i);
  }
  for (std::size_t c = 0; c < clients_.size(); ++c)
    clients_.resume(c);
}

std::vector<interval> fault_runner::healthy(time_point from, time_point to) const {
  // Sweep the edges of every node's unavailable spans and the disturbances.
  std::vector<std::pair<time_point, int>> edges;  // +1 one more node out, -1 one back
  for (const auto& spans : unavailable_)
    for (const interval& s : spans) {
      edges.push_back({s.from, +1});
      edges.push_back({s.to, -1});
    }
  const int big = 1'000'000;  // a disturbance counts as every node out
  for (const interval& s : disturbed_) {
    edges.push_back({s.from, +big});
    edges.push_back({s.to, -big});
  }
  std::sort(edges.begin(), edges.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const int n = static_cast<int>(voters_);
  const int quorum = n / 2 + 1;
  // Overlapping spans of one node count twice; a node counted out twice is still one node, so
  // the count is an over-estimate of the nodes out: healthy is then under-estimated (safe).
  std::vector<interval> out;
  int down = 0;
  time_point cursor = from;
  auto emit = [&](time_point a, time_point b) {
    a = std::max(a, from);
    b = std::min(b, to);
    if (a < b && n - down >= quorum) out.push_back({a, b});
  };
  for (const auto& e : edges) {
    emit(cursor, e.first);
    cursor = std::max(cursor, e.first);
    down += e.second;
  }
  emit(cursor, to);
  return out;
}

std::string fault_runner::faults_json() const {
  std::string out = "[";
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    const fault_event& f = faults_[i];
    out += (i > 0 ? "," : "");
    out += "{\"t\":" + std::to_string(to_nanos(f.t)) + ",\"kind\":" + json_quote(f.kind) +
           ",\"target\":" + json_quote(f.target) + ",\"ms\":" + std::to_string(f.ms) + "}";
  }
  return out + "]";
}

}  // namespace redlock::torture
