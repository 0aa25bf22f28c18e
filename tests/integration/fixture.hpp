// Shared pieces of the integration tier: a fixture with its own redis-server fleet, and small
// helpers built on eventually() (test_helpers.hpp) to wait for a condition with a generous bound.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "redis_fleet.hpp"
#include "redlock/redlock.hpp"
#include "test_helpers.hpp"

namespace redlock::testing {

// Client options for a fleet, with timeouts generous enough for sanitizer builds on a loaded
// two-core machine: tests assert behaviour, never speed. The quarantine is off: the fixture's
// servers started a moment ago, so every one of them would sit out a whole max_ttl (the
// quarantine's own tests turn it on).
inline client_options options_for(const redis_fleet& fleet) {
  client_options o;
  o.endpoints = fleet.urls();
  o.quarantine.enabled = false;
  o.node_timeout = std::chrono::milliseconds(500);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.reconnect_min = std::chrono::milliseconds(10);
  o.reconnect_max = std::chrono::milliseconds(200);
  return o;
}

inline acquire_options ttl_of(std::chrono::milliseconds ttl) {
  acquire_options a;
  a.ttl = ttl;
  return a;
}

// Takes, extends and releases a lock; each step must finish before `bound` (a failover test
// sets it well below node_timeout, so a step that waited for a dead or stuck node shows).
inline void expect_fast_lock_cycle(client& locks, const std::string& resource,
                                   std::chrono::milliseconds bound) {
  auto start = std::chrono::steady_clock::now();
  result<lease> held = locks.acquire(resource);
  ASSERT_TRUE(held) << held.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, bound) << "acquire waited";
  start = std::chrono::steady_clock::now();
  result<void> extended = held->extend(std::chrono::milliseconds(20000));
  EXPECT_TRUE(extended) << extended.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, bound) << "extend waited";
  start = std::chrono::steady_clock::now();
  result<void> released = held->release();
  EXPECT_TRUE(released) << released.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, bound) << "release waited";
}

// True when no running, unpaused node of the fleet holds the lock key of `resource`.
inline bool no_keys_left(const redis_fleet& fleet, const std::string& resource) {
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    if (!fleet.running(i) || fleet.paused(i)) continue;
    if (fleet.command(i, {"EXISTS", "redlock:" + resource}) != "0") return false;
  }
  return true;
}

// A release returns once a majority confirmed: the other nodes' answers (their DEL ran or is
// about to) may come a moment later. The keys of a released lock are gone within this wait,
// far shorter than any test's ttl, so an expiry cannot pass for the release.
inline bool keys_gone_soon(const redis_fleet& fleet, const std::string& resource) {
  return eventually([&] { return no_keys_left(fleet, resource); }, std::chrono::milliseconds(300));
}

// Waits until every node of `locks` has finished its handshake, so that a fault injected next
// hits a connected node (an acquire succeeds as soon as a majority is connected).
inline void wait_all_connected(client& locks) {
  bool all = eventually([&] {
    auto h = locks.health();
    if (!h) return false;
    for (const node_health& n : *h) {
      if (n.state != node_state::connected) return false;
    }
    return true;
  });
  ASSERT_TRUE(all) << "not every node connected within 5 s";
}

// Waits until the client has noticed that the nodes `which` went down (a killed server closes
// its connections; the client sees that on its loop, a moment later).
inline void wait_noticed_down(client& locks, const std::vector<std::size_t>& which) {
  bool noticed = eventually([&] {
    auto h = locks.health();
    if (!h) return false;
    for (std::size_t i : which) {
      if ((*h)[i].state == node_state::connected) return false;
    }
    return true;
  });
  ASSERT_TRUE(noticed) << "the client did not notice the nodes going down within 5 s";
}

// Takes and releases a lock with every node connected, and waits until each node has run both
// the SET and the release, so that nothing is in flight when a fault is injected next. (A lease
// dropped without release() is released in the background; were that release still unanswered
// on a node that is then paused or blackholed, its deadline, earlier than the next request's,
// would recycle the connection and fail the requests queued behind it before their own
// node_timeout.) Requests on one connection are served in order, so once the key has been on a
// node and is gone from it, that node answered both.
inline void warm_up(client& locks, const redis_fleet& fleet) {
  result<lease> warm = locks.acquire("warmup");
  ASSERT_TRUE(warm) << warm.message();
  wait_all_connected(locks);
  ASSERT_TRUE(eventually([&] {
    for (std::size_t i = 0; i < fleet.size(); ++i) {
      if (fleet.command(i, {"GET", "redlock:warmup"}) != warm->token()) return false;
    }
    return true;
  })) << "not every node got the warm-up lock within 5 s";
  result<void> released = warm->release();
  ASSERT_TRUE(released) << released.message();
  ASSERT_TRUE(eventually([&] { return no_keys_left(fleet, "warmup"); }))
      << "a node still holds the warm-up lock";
}

class fleet_test : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(redis_unavailable_reason()); }
  // A test that paused a node resumes it, whatever happened in the test.
  void TearDown() override {
    for (std::size_t i = 0; fleet && i < fleet->size(); ++i) {
      if (fleet->paused(i)) fleet->resume(i);
    }
  }
  void start_fleet(std::size_t n, node_options options = {}) {
    fleet = std::make_unique<redis_fleet>(n, std::move(options));
  }
  // A blocking client on the whole fleet.
  client make_client(client_options o) {
    auto c = client::create(std::move(o));
    EXPECT_TRUE(c) << c.message();
    return std::move(*c);
  }
  client make_client() { return make_client(options_for(*fleet)); }

  // The value of `key` on every node (what GET returns there).
  std::vector<std::string> values_of(const std::string& key) const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < fleet->size(); ++i)
      out.push_back(fleet->command(i, {"GET", key}));
    return out;
  }
  // Whether every node holds `value` at `key`: e.g. a lease's token once each node has run its
  // SET (the acquire may return at a majority, before the last one answered).
  bool every_node_has(const std::string& key, const std::string& value) const {
    return values_of(key) == std::vector<std::string>(fleet->size(), value);
  }

  std::unique_ptr<redis_fleet> fleet;
};

// The failover tables (N = 5). node_timeout is 1 s, so "did not wait for the dead or stuck
// nodes" (well under failover_bound) is told apart from "waited for their deadline" by a wide
// margin.
constexpr std::chrono::milliseconds failover_node_timeout{1000};
constexpr std::chrono::milliseconds failover_bound{600};

class failover_test : public fleet_test {
 protected:
  // A client on `endpoints` (five nodes, or proxies in front of them), every node connected.
  void start_client(std::vector<std::string> endpoints) {
    client_options o = options_for(*fleet);
    o.endpoints = std::move(endpoints);
    o.node_timeout = failover_node_timeout;
    o.connect_timeout = std::chrono::milliseconds(1000);
    locks.emplace(make_client(o));
    warm_up(*locks, *fleet);
  }
  node_health health_of(std::size_t i) {
    auto h = locks->health();
    return h ? (*h)[i] : node_health{};
  }

  std::optional<client> locks;
};

}  // namespace redlock::testing
