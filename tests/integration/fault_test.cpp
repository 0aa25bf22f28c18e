// A paused single node (deadline, recycled connection, owed release) and node health. The
// failover tables are in failover_test.cpp and proxy_failover_test.cpp.
#include <gmock/gmock.h>

#include <algorithm>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class FaultTest : public fleet_test {};

TEST_F(FaultTest, PausedNodeCountsFailedAfterTheDeadlineAndComesBack) {
  start_fleet(1);
  client_options o = options_for(*fleet);
  o.node_timeout = milliseconds(200);
  client locks = make_client(o);
  warm_up(locks, *fleet);
  fleet->pause(0);
  auto start = std::chrono::steady_clock::now();
  result<lease> held = locks.acquire("job", ttl_of(milliseconds(3000)));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(held);
  EXPECT_EQ(held.tally().nodes()[0].error, errc::node_timeout);
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(3000));  // bounded by the deadline, not by the pause
  // While the node stays paused, it keeps failing (a reconnect cannot finish its handshake).
  result<lease> down = locks.acquire("other", ttl_of(milliseconds(3000)));
  EXPECT_FALSE(down);

  fleet->resume(0);
  // The SET sent before the pause runs when the node resumes; the failed round's release is
  // owed to the node and delivered once it reconnects, so the key does not linger a full ttl.
  EXPECT_TRUE(eventually(
      [&] {
        return fleet->command(0, {"EXISTS", "redlock:job"}) == "0";
      },
      milliseconds(2500)));
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(locks.acquire("after")); }));
}

TEST_F(FaultTest, HealthShowsStateLastErrorReconnectsAndLatency) {
  start_fleet(3);
  client locks = make_client();
  wait_all_connected(locks);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(locks.acquire("k" + std::to_string(i)));
  // Each acquire decides at a majority: on a loaded machine one server may not have answered
  // any request yet, and a node's latency summary covers answered requests only.
  result<std::vector<node_health>> healthy = locks.health();
  EXPECT_TRUE(eventually([&] {
    healthy = locks.health();
    return healthy && std::all_of(healthy->begin(), healthy->end(),
                                  [](const node_health& n) { return n.latency_max.count() > 0; });
  })) << "a node answered no request within 5 s";
  ASSERT_TRUE(healthy) << healthy.message();
  ASSERT_EQ(healthy->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const node_health& n = (*healthy)[i];
    EXPECT_EQ(n.endpoint, fleet->url(i));
    EXPECT_EQ(n.state, node_state::connected);
    EXPECT_GE(n.requests, 20u);  // at least the SETs; releases run in the background
    EXPECT_EQ(n.failures, 0u);
    EXPECT_EQ(n.reconnects, 0u);
    EXPECT_GT(n.latency_p50.count(), 0);
    EXPECT_LE(n.latency_p50, n.latency_p99);
    EXPECT_LE(n.latency_p99, n.latency_max);
  }

  fleet->kill(1);
  EXPECT_TRUE(eventually([&] {
    auto h = locks.health();
    return h && (*h)[1].state != node_state::connected && !(*h)[1].last_error.empty();
  }));
  fleet->restart(1);
  EXPECT_TRUE(eventually([&] {
    auto h = locks.health();
    return h && (*h)[1].state == node_state::connected && (*h)[1].reconnects == 1u;
  }));
  EXPECT_EQ((*locks.health())[0].state, node_state::connected);
}

}  // namespace
}  // namespace redlock::testing
