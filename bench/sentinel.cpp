// The sentinel scenario: acquire latency on Sentinel groups with replica acknowledgement off
// and on, and the comeback of a group's vote after its master was killed.
#include "sentinel.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "floors.hpp"
#include "latency.hpp"
#include "sentinel_fleet.hpp"

namespace redlock::bench {
namespace {

using redlock::testing::sentinel_fleet;

constexpr std::size_t groups = 3;

std::string address(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

redlock::client_options group_options(const sentinel_fleet& fleet, int replica_acks) {
  redlock::client_options options = client_options_for(fleet.urls());
  options.replica_ack.replicas = replica_acks;
  return options;
}

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Acquire latency with acknowledgement off and on, interleaved in 100 ms slices with the
// floors on the groups' current masters (a plain SET to one, and the fan-out to all three).
std::vector<row> measure_acknowledgement(const sentinel_fleet& fleet, double seconds) {
  std::vector<std::string> masters;
  for (std::size_t g = 0; g < groups; ++g)
    masters.push_back("redis://" + address(fleet.master_port(g)));
  std::vector<std::unique_ptr<measurer>> measurers;
  measurers.push_back(std::make_unique<floor_measurer>(std::vector<std::string>{masters[0]}));
  measurers.push_back(std::make_unique<floor_measurer>(masters));
  for (int acks : {0, 1})
    measurers.push_back(
        std::make_unique<blocking_latency_measurer>(group_options(fleet, acks), "sentinel"));
  for (int acks : {0, 1})
    measurers.push_back(
        std::make_unique<async_latency_measurer>(group_options(fleet, acks), "sentinel"));
  run_interleaved(measurers, seconds);

  std::vector<row> rows;
  double floor_p50 = 0;
  for (const auto& m : measurers) {
    rows.push_back(m->summary(floor_p50));
    if (floor_p50 == 0) floor_p50 = rows.back().p50_us;  // the first is the floor
  }
  for (row& r : rows) {
    if (r.replica_acks == 0) continue;
    for (const row& unacked : rows) {
      if (unacked.scenario == r.scenario && unacked.client == r.client &&
          unacked.replica_acks == 0 && unacked.p50_us > 0)
        r.ratio_to_unacked = r.p50_us / unacked.p50_us;
    }
  }
  return rows;
}

// One client polling a group back after its master was killed: each attempt reads health()
// (until it shows the group connected to another master) and runs one acquire (wait 0).
class comeback_probe {
 public:
  comeback_probe(const sentinel_fleet& fleet, int replica_acks) {
    auto made = redlock::client::create(group_options(fleet, replica_acks));
    if (!made) throw std::runtime_error(made.message());
    client_.emplace(std::move(*made));
    if (auto ready = client_->wait_ready(std::chrono::seconds(10)); !ready)
      throw std::runtime_error("sentinel: " + ready.message());
    row_.scenario = "sentinel";
    row_.client = "client";
    row_.nodes = groups;
    row_.replica_acks = replica_acks;
  }

  void start(std::size_t group, std::uint16_t old_master_port, clock_type::time_point killed) {
    row_.fault = "kill-g" + std::to_string(group);
    row_.ops = row_.errors = 0;
    row_.health_back_ms = row_.vote_back_ms = row_.sentinel_switch_ms = -1;
    group_ = group;
    old_master_ = address(old_master_port);
    killed_ = killed;
  }

  bool done() const { return row_.vote_back_ms >= 0; }

  void attempt() {
    if (row_.health_back_ms < 0) {
      if (auto nodes = client_->health(); nodes && nodes->size() > group_) {
        const redlock::node_health& n = (*nodes)[group_];
        if (n.state == redlock::node_state::connected && !n.master.empty() &&
            n.master != old_master_)
          row_.health_back_ms = ms_between(killed_, clock_type::now());
      }
    }
    // A distinct key each time: a grant elsewhere must not make the next attempt busy.
    std::string key =
        "sentinel:comeback:" + std::to_string(row_.replica_acks) + ":" + std::to_string(next_++);
    redlock::result<redlock::lease> r = client_->acquire(key);
    auto answered = clock_type::now();
    ++row_.ops;
    const auto& votes = r.tally().nodes();
    // The round ends at a majority, so a group that answers last is unanswered even when it
    // would have granted: it shows up at a later attempt (one poll interval late at most).
    if (votes.size() > group_ && votes[group_].vote == redlock::vote::granted)
      row_.vote_back_ms = ms_between(killed_, answered);
    if (!r) {
      ++row_.errors;
      return;
    }
    if (!r->release()) ++row_.errors;
  }

  row finish(double sentinel_switch_ms) {
    row_.sentinel_switch_ms = sentinel_switch_ms;
    return row_;
  }

 private:
  std::optional<redlock::client> client_;
  row row_;
  std::size_t group_ = 0;
  std::string old_master_;
  clock_type::time_point killed_;
  std::size_t next_ = 0;
};

// Kills each group's master in turn (the old master stays dead) and times, from the kill: the
// sentinels' switch (wait_for_failover on a thread of its own, which asks every 50 ms), and
// for each probe the group back in health() and its first granted vote.
std::vector<row> measure_comebacks(sentinel_fleet& fleet) {
  comeback_probe unacked(fleet, 0);
  comeback_probe acked(fleet, 1);
  std::vector<row> rows;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::uint16_t old_port = fleet.master_port(g);
    auto killed = clock_type::now();
    fleet.kill_master(g);
    unacked.start(g, old_port, killed);
    acked.start(g, old_port, killed);
    double switch_ms = -1;
    std::string watch_error;
    std::thread watcher([&] {
      try {
        fleet.wait_for_failover(g, old_port);
        switch_ms = ms_between(killed, clock_type::now());
      } catch (const std::exception& e) {
        watch_error = e.what();
      }
    });
    auto give_up = killed + std::chrono::seconds(30);
    while ((!unacked.done() || !acked.done()) && clock_type::now() < give_up) {
      if (!unacked.done()) unacked.attempt();
      if (!acked.done()) acked.attempt();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    watcher.join();
    if (!watch_error.empty()) throw std::runtime_error(watch_error);
    rows.push_back(unacked.finish(switch_ms));
    rows.push_back(acked.finish(switch_ms));
  }
  return rows;
}

}  // namespace

std::vector<row> measure_sentinel(const options& o) {
  redlock::testing::sentinel_fleet_options fleet_options;
  // Two replicas per group: after a failover the promoted master keeps one (the old master
  // stays dead), so a group whose votes need one acknowledgement can vote again at all.
  fleet_options.replicas = 2;
  sentinel_fleet fleet(groups, fleet_options);
  std::vector<row> rows = measure_acknowledgement(fleet, o.seconds);
  for (row& r : measure_comebacks(fleet))
    rows.push_back(std::move(r));
  return rows;
}

}  // namespace redlock::bench
