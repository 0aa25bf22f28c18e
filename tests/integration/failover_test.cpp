// The failover table (N = 5) with real process faults: SIGKILL, SIGSTOP/SIGCONT, restarts.
#include <gmock/gmock.h>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

class FailoverTest : public failover_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    start_fleet(5);
    start_client(fleet->urls());
  }
};

TEST_F(FailoverTest, OneOrTwoKilledNodesCostNoWaiting) {
  fleet->kill(4);
  expect_fast_lock_cycle(*locks, "after-one", failover_bound);
  fleet->kill(0);
  expect_fast_lock_cycle(*locks, "after-two", failover_bound);
}

TEST_F(FailoverTest, OneOrTwoPausedNodesCostNoWaiting) {
  fleet->pause(2);
  expect_fast_lock_cycle(*locks, "paused-one", failover_bound);
  expect_fast_lock_cycle(*locks, "paused-one-again",
                         failover_bound);  // while the stuck connection is being recycled
  fleet->pause(3);
  expect_fast_lock_cycle(*locks, "paused-two", failover_bound);
  // The stuck connections were recycled: each paused node failed requests at its deadline.
  EXPECT_TRUE(eventually([&] { return health_of(2).failures > 0 && health_of(3).failures > 0; }));
  fleet->resume(2);
  fleet->resume(3);
  // Late SETs run when the nodes resume; the releases owed to them delete those keys.
  for (const char* r : {"paused-one", "paused-one-again", "paused-two"}) {
    EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, r); })) << r;
  }
  EXPECT_TRUE(eventually([&] {
    return health_of(2).state == node_state::connected &&
           health_of(3).state == node_state::connected;
  }));
}

TEST_F(FailoverTest, ThreeKilledFailsAtOnceNamingTheNodes) {
  fleet->kill(1);
  fleet->kill(2);
  fleet->kill(3);
  auto start = steady_clock::now();
  result<lease> held = locks->acquire("job");
  EXPECT_LT(steady_clock::now() - start, failover_bound);
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::no_quorum);
  for (std::size_t i : {1u, 2u, 3u}) {
    const node_report& r = held.tally().nodes()[i];
    if (r.vote == vote::unanswered) continue;  // decided at the third failure
    EXPECT_EQ(r.vote, vote::failed);
    EXPECT_THAT(held.message(), HasSubstr(fleet->url(i)));
  }
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

TEST_F(FailoverTest, ExtendAndReleaseReportFailureWithThreeDown) {
  result<lease> held = locks->acquire("job");
  ASSERT_TRUE(held);
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
  fleet->kill(0);
  fleet->kill(1);
  fleet->pause(2);
  auto before = held->valid_until();
  result<void> extended = held->extend(milliseconds(20000));
  EXPECT_EQ(extended.error(), errc::no_quorum);
  EXPECT_EQ(held->valid_until(), before);  // keeps the validity it had
  result<void> released = held->release();
  EXPECT_EQ(released.error(), errc::no_quorum);
  // The live nodes delete our key (the failure may be decided before they answer): nothing
  // stays locked there.
  EXPECT_TRUE(eventually([&] {
    return fleet->command(3, {"EXISTS", "redlock:job"}) == "0" &&
           fleet->command(4, {"EXISTS", "redlock:job"}) == "0";
  }));
  // The paused node gets its release once it answers again.
  fleet->resume(2);
  EXPECT_TRUE(eventually([&] { return fleet->command(2, {"EXISTS", "redlock:job"}) == "0"; }));
}

TEST_F(FailoverTest, ThreePausedFailsWithinAboutOneNodeTimeout) {
  fleet->pause(0);
  fleet->pause(1);
  fleet->pause(2);
  auto start = steady_clock::now();
  result<lease> held = locks->acquire("job");
  auto took = steady_clock::now() - start;
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::no_quorum);
  EXPECT_GE(took, failover_node_timeout - milliseconds(10));
  EXPECT_LT(took, failover_node_timeout + milliseconds(1500));
  std::size_t timed_out = 0;
  for (const node_report& r : held.tally().nodes())
    timed_out += r.error == errc::node_timeout;
  EXPECT_GE(timed_out, 1u);
  // The live nodes granted, then released: nothing stays locked there.
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
  fleet->resume(0);
  fleet->resume(1);
  fleet->resume(2);
  // Once resumed, the late SETs run and the owed releases clean them up.
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(locks->acquire("after")); }));
}

TEST_F(FailoverTest, KilledNodeRejoinsWithinTheBackoffMaximum) {
  fleet->kill(3);
  ASSERT_TRUE(locks->acquire("during"));
  fleet->restart(3);
  auto restarted = steady_clock::now();
  EXPECT_TRUE(eventually([&] { return health_of(3).state == node_state::connected; }));
  // reconnect_max is 200 ms in these tests; allow for a connect and a loaded machine.
  EXPECT_LT(steady_clock::now() - restarted, milliseconds(2000));
  result<lease> after = locks->acquire("after");
  ASSERT_TRUE(after);
  EXPECT_TRUE(eventually([&] {
    return fleet->command(3, {"GET", "redlock:after"}) == after->token();
  }));
}

TEST_F(FailoverTest, AllDownFailsFastThenWorksAgain) {
  for (std::size_t i = 0; i < 5; ++i)
    fleet->kill(i);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto start = steady_clock::now();
    result<lease> held = locks->acquire("job");
    EXPECT_LT(steady_clock::now() - start, failover_bound);
    EXPECT_EQ(held.error(), errc::no_quorum);
  }
  for (std::size_t i = 0; i < 5; ++i)
    fleet->restart(i);
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(locks->acquire("back")); }));
}

// A node restarted without persistence forgets its keys; with appendfsync always it keeps
// them, so the lock stays held across the restart.
TEST_F(FailoverTest, RestartWithoutPersistenceForgetsTheKey) {
  result<lease> held = locks->acquire("job", ttl_of(milliseconds(30000)));
  ASSERT_TRUE(held);
  ASSERT_TRUE(eventually([&] {
    return fleet->command(0, {"GET", "redlock:job"}) == held->token();
  }));
  fleet->kill(0);
  fleet->restart(0);
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:job"}), "0");
}

class PersistentFailoverTest : public fleet_test {};

TEST_F(PersistentFailoverTest, RestartWithAppendfsyncAlwaysKeepsTheLock) {
  node_options n;
  n.persistence = true;
  start_fleet(3, n);
  client locks = make_client();
  result<lease> held = locks.acquire("job", ttl_of(milliseconds(30000)));
  ASSERT_TRUE(held);
  ASSERT_TRUE(eventually([&] {
    return fleet->command(0, {"GET", "redlock:job"}) == held->token();
  }));
  fleet->kill(0);
  fleet->kill(1);
  fleet->restart(0);
  fleet->restart(1);
  EXPECT_EQ(fleet->command(0, {"GET", "redlock:job"}), held->token());
  client other = make_client();
  EXPECT_TRUE(eventually([&] {
    result<lease> r = other.acquire("job");
    return r.error() == errc::held_elsewhere;
  }));
}

}  // namespace
}  // namespace redlock::testing
