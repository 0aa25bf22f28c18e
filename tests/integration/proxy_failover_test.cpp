// The failover table (N = 5) with network faults: every node sits behind a fault proxy that
// can blackhole, delay, reset or refuse.
#include <gmock/gmock.h>

#include "fault_proxy.hpp"
#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

class ProxyFailoverTest : public failover_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    start_fleet(5);
    std::vector<std::string> endpoints;
    for (std::size_t i = 0; i < 5; ++i) {
      proxies.push_back(std::make_unique<fault_proxy>(fleet->port(i)));
      endpoints.push_back(proxies.back()->url());
    }
    start_client(endpoints);
  }

  std::vector<std::unique_ptr<fault_proxy>> proxies;
};

TEST_F(ProxyFailoverTest, OneOrTwoBlackholedNodesCostNoWaiting) {
  proxies[1]->blackhole();
  expect_fast_lock_cycle(*locks, "one", failover_bound);
  proxies[3]->blackhole();
  expect_fast_lock_cycle(*locks, "two", failover_bound);
  expect_fast_lock_cycle(*locks, "two-again", failover_bound);
  // The stuck connections are recycled at their deadline; late replies never arrive.
  EXPECT_TRUE(eventually([&] { return health_of(1).failures > 0 && health_of(3).failures > 0; }));
  EXPECT_THAT(health_of(1).last_error, HasSubstr("1000 ms"));  // no reply, or connect timed out
  proxies[1]->pass();
  proxies[3]->pass();
  EXPECT_TRUE(eventually([&] {
    return health_of(1).state == node_state::connected &&
           health_of(3).state == node_state::connected;
  }));
  // What a blackhole swallowed never reached the servers; what was released is gone.
  for (const char* r : {"one", "two", "two-again"}) {
    EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, r); })) << r;
  }
}

TEST_F(ProxyFailoverTest, NodeSlowerThanTheTimeoutCountsFailed) {
  proxies[2]->delay(milliseconds(700));  // 1.4 s round trip against a 1 s node_timeout
  expect_fast_lock_cycle(*locks, "slow", failover_bound);
  EXPECT_TRUE(eventually([&] { return health_of(2).failures > 0; }));
  EXPECT_THAT(health_of(2).last_error, HasSubstr("no reply within"));
  result<lease> later = locks->acquire("later");
  ASSERT_TRUE(later);
  EXPECT_NE(later.tally().nodes()[2].vote, vote::granted);
}

TEST_F(ProxyFailoverTest, ResetConnectionsFailAtOnceAndReconnect) {
  proxies[0]->reset();
  auto start = steady_clock::now();
  result<lease> held = locks->acquire("job");
  EXPECT_LT(steady_clock::now() - start, failover_bound);
  ASSERT_TRUE(held) << held.message();
  EXPECT_TRUE(eventually([&] { return health_of(0).state != node_state::connected; }));
  // While every new connection is reset too, the node stays failed without costing waits.
  for (int i = 0; i < 3; ++i)
    expect_fast_lock_cycle(*locks, "during-" + std::to_string(i), failover_bound);
  proxies[0]->pass();
  EXPECT_TRUE(eventually([&] { return health_of(0).state == node_state::connected; }));
  EXPECT_GE(health_of(0).reconnects, 1u);
}

TEST_F(ProxyFailoverTest, RefusedConnectionsFailAtOnceAndReconnect) {
  proxies[4]->refuse();
  EXPECT_TRUE(eventually([&] { return health_of(4).state != node_state::connected; }));
  auto start = steady_clock::now();
  result<lease> held = locks->acquire("job");
  EXPECT_LT(steady_clock::now() - start, failover_bound);
  ASSERT_TRUE(held) << held.message();
  EXPECT_TRUE(eventually([&] {
    return health_of(4).last_error.find("refused") != std::string::npos;
  })) << health_of(4).last_error;
  proxies[4]->pass();
  EXPECT_TRUE(eventually([&] { return health_of(4).state == node_state::connected; }));
}

TEST_F(ProxyFailoverTest, ThreeBlackholedFailWithinAboutOneTimeoutLeavingNothingLocked) {
  for (std::size_t i : {0u, 1u, 2u})
    proxies[i]->blackhole();
  auto start = steady_clock::now();
  result<lease> held = locks->acquire("job");
  auto took = steady_clock::now() - start;
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::no_quorum);
  EXPECT_GE(took, failover_node_timeout - milliseconds(10));
  EXPECT_LT(took, failover_node_timeout + milliseconds(1500));
  EXPECT_THAT(held.message(), HasSubstr("no reply within 1000 ms"));
  // Later attempts fail at once: the blackholed nodes count as down until they answer again.
  start = steady_clock::now();
  EXPECT_FALSE(locks->acquire("job2"));
  EXPECT_LT(steady_clock::now() - start, failover_bound);
  for (std::size_t i : {0u, 1u, 2u})
    proxies[i]->pass();
  EXPECT_TRUE(
      eventually([&] { return no_keys_left(*fleet, "job") && no_keys_left(*fleet, "job2"); }));
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(locks->acquire("after")); }));
}

TEST_F(ProxyFailoverTest, ConnectionCutMidCommandCountsFailed) {
  proxies[3]->cut_after(10);  // the next SET is cut short
  result<lease> held = locks->acquire("job");
  ASSERT_TRUE(held) << held.message();
  EXPECT_TRUE(eventually(
      [&] { return health_of(3).failures > 0 || health_of(3).state != node_state::connected; }));
  proxies[3]->pass();
  EXPECT_TRUE(eventually([&] { return health_of(3).state == node_state::connected; }));
}

}  // namespace
}  // namespace redlock::testing
