// Shared pieces of the integration tier: a fixture with its own redis-server fleet, and small
// helpers to wait for a condition with a generous bound.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "redis_fleet.hpp"
#include "redlock/redlock.hpp"

namespace redlock::testing {

// Polls `condition` every 5 ms until it holds or `limit` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// Client options for a fleet, with timeouts generous enough for sanitizer builds on a loaded
// two-core machine: tests assert behaviour, never speed.
inline client_options options_for(const redis_fleet& fleet) {
  client_options o;
  o.endpoints = fleet.urls();
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

class fleet_test : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_REDIS_OR_SKIP(); }
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

  std::unique_ptr<redis_fleet> fleet;
};

}  // namespace redlock::testing
