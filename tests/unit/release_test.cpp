// Release and the releases owed to nodes: decided once a majority confirmed, owed where it
// could not be delivered (deduplicated, bounded, counted), paid on the next connect or
// healthy answer and on shutdown, and sent twice where a late request may overtake it.
#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::ElementsAre;

TEST_F(EngineTest, ReleaseIsDecidedOnceAMajorityConfirmed) {
  make(3);
  auto lock = acquire_granted();
  std::optional<result<void>> released;
  eng->release(lock, [&](result<void> r) { released.emplace(std::move(r)); });
  auto args = args_of(nodes[0]->pending().wire);
  EXPECT_THAT(args, ElementsAre("EVALSHA", std::string(detail::release_script.sha1), "1",
                                "redlock:job", lock->token));
  nodes[0]->answer_int(1);
  EXPECT_FALSE(released.has_value());
  nodes[1]->answer_int(0);  // expired there already: not an error
  ASSERT_TRUE(released && *released) << released->message();
  EXPECT_EQ(released->tally().granted(), 1u);
  EXPECT_EQ(released->tally().refused(), 1u);
  EXPECT_EQ(released->tally().unanswered(), 1u);
  // The slow node still gets its release; the operation is in flight until it answers.
  EXPECT_EQ(eng->in_flight(), 1u);
  nodes[2]->answer_int(1);
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, ReleaseWithoutMajorityConfirmationFails) {
  make(3);
  auto lock = acquire_granted();
  std::optional<result<void>> released;
  eng->release(lock, [&](result<void> r) { released.emplace(std::move(r)); });
  nodes[0]->answer_int(1);
  nodes[1]->fail(errc::node_down, "refused", false);
  nodes[2]->fail(errc::node_timeout, "no reply", true);
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->error(), errc::no_quorum);
  EXPECT_EQ(released->tally().failed(), 2u);
}

TEST_F(EngineTest, ReleaseOwedToANodeIsSentWhenItReconnects) {
  make(3);
  auto lock = acquire_granted();
  release_owed_by_last(lock);
  EXPECT_FALSE(nodes[2]->has_pending());
  nodes[2]->reconnect();
  ASSERT_TRUE(nodes[2]->has_pending());
  EXPECT_THAT(args_of(nodes[2]->pending().wire),
              ElementsAre("EVALSHA", ::testing::_, "1", "redlock:job", lock->token));
  nodes[2]->answer_int(1);
  nodes[2]->reconnect();  // paid: nothing more to send at the next connect
  EXPECT_FALSE(nodes[2]->has_pending());
  // ...but once more a little later, in case the old connection's SET ran after it.
  timers.advance(milliseconds(250));
  ASSERT_TRUE(nodes[2]->has_pending());
  EXPECT_THAT(args_of(nodes[2]->pending().wire),
              ElementsAre("EVALSHA", ::testing::_, "1", "redlock:job", lock->token));
  nodes[2]->answer_int(0);
  timers.advance(milliseconds(1000));
  EXPECT_FALSE(nodes[2]->has_pending());
}

TEST_F(EngineTest, ReleaseTwiceIsEmptyLease) {
  make(1);
  auto lock = acquire_granted();
  eng->release(lock, nullptr);
  nodes[0]->answer_int(1);
  std::optional<result<void>> again;
  eng->release(lock, [&](result<void> r) { again.emplace(std::move(r)); });
  timers.run_deferred();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->error(), errc::empty_lease);
}

TEST_F(EngineTest, ReleaseRefusedWithAnErrorReplyOnALiveConnectionIsOwed) {
  make(3);
  auto lock = acquire_granted();
  eng->release(lock, nullptr);
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  nodes[2]->answer_error_reply("OOM command not allowed when used memory > 'maxmemory'");
  EXPECT_EQ(eng->owed(2).owed(), 1u);
  nodes[2]->reconnect();
  EXPECT_TRUE(release_pending(2, *lock));
}

// The node answers something else healthily (another lock's SET): that is the moment to pay.
TEST_F(EngineTest, OwedReleaseIsPaidOnTheNodesNextHealthyAnswer) {
  make(3);
  auto lock = acquire_granted();
  release_owed_by_last(lock);
  ASSERT_EQ(eng->owed(2).owed(), 1u);
  clock.advance(milliseconds(300));  // past the pacing of payments
  acquire("other");
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  nodes[2]->answer_ok();  // healthy: the owed release goes out now
  EXPECT_EQ(eng->owed(2).owed(), 0u);
  EXPECT_TRUE(release_pending(2, *lock));
}

// A node too busy to take the release in time (it waited its whole queue budget for room in
// the window) is up, and may get no other traffic: it is paid a little later all the same.
TEST_F(EngineTest, ReleaseRefusedForOverloadIsPaidLaterWithoutOtherTraffic) {
  make(3);
  auto lock = acquire_granted();
  eng->release(lock, nullptr);
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  nodes[2]->fail(errc::overloaded, "no room", false);
  EXPECT_EQ(eng->owed(2).owed(), 1u);
  EXPECT_FALSE(nodes[2]->has_pending());
  timers.advance(milliseconds(250));
  EXPECT_EQ(eng->owed(2).owed(), 0u);
  ASSERT_TRUE(release_pending(2, *lock));
  nodes[2]->fail(errc::overloaded, "no room", false);  // still busy: owed, and paid again later
  EXPECT_EQ(eng->owed(2).owed(), 1u);
  timers.advance(milliseconds(250));
  ASSERT_TRUE(release_pending(2, *lock));
  nodes[2]->answer_int(1);
  EXPECT_EQ(eng->owed(2).owed(), 0u);
}

// Owed releases are background work: a node that keeps failing them keeps the engine busy,
// but not "in flight", so an async client's loop may still return.
TEST_F(EngineTest, OwedReleasesAreNotOperationsInFlight) {
  make(3);
  auto lock = acquire_granted();
  release_owed_by_last(lock);
  nodes[2]->reconnect();  // pays
  EXPECT_EQ(eng->in_flight(), 0u);
  EXPECT_FALSE(eng->idle());
  nodes[2]->answer_int(1);
  timers.advance(milliseconds(250));
  nodes[2]->answer_int(0);  // the repeat
  EXPECT_TRUE(eng->idle());
}

TEST_F(EngineTest, OwedReleaseIsKeptOnceHoweverOftenItFails) {
  make(3);
  auto lock = acquire_granted();
  release_owed_by_last(lock);
  for (int i = 0; i < 3; ++i) {
    nodes[2]->reconnect();  // paid...
    ASSERT_TRUE(release_pending(2, *lock));
    nodes[2]->fail(errc::node_timeout, "no reply", true);  // ...failed again: owed again
    EXPECT_EQ(eng->owed(2).owed(), 1u);
    timers.advance(milliseconds(250));  // the payment's second send...
    ASSERT_TRUE(release_pending(2, *lock));
    nodes[2]->fail(errc::node_timeout, "no reply", true);  // ...fails too: still owed once
    EXPECT_EQ(eng->owed(2).owed(), 1u);
  }
  EXPECT_EQ(eng->owed(2).dropped(), 0u);
}

// With the cap full, the entry whose key expires first is given up, and counted.
TEST_F(EngineTest, OwedReleasesOverTheCapDropTheFirstToExpireAndCountIt) {
  detail::engine_config config = defaults();
  config.max_debt_per_node = 2;
  make(3, config);
  std::vector<std::shared_ptr<lock_record>> locks;
  for (milliseconds ttl : {milliseconds(30000), milliseconds(1000), milliseconds(20000)})
    locks.push_back(acquire_granted(ttl));
  for (const auto& lock : locks) {
    eng->release(lock, nullptr);
    nodes[0]->answer_int(1);
    nodes[1]->answer_int(1);
    nodes[2]->fail(errc::node_down, "Connection refused", false);
  }
  EXPECT_EQ(eng->owed(2).owed(), 2u);
  EXPECT_EQ(eng->owed(2).dropped(), 1u);
  nodes[2]->reconnect();
  std::vector<std::string> paid;
  while (nodes[2]->has_pending()) {
    paid.push_back(pending_args(2)[4]);
    nodes[2]->answer_int(1);
  }
  EXPECT_THAT(paid, ::testing::UnorderedElementsAre(locks[0]->token, locks[2]->token));
}

TEST_F(EngineTest, ShutdownSendsOwedReleasesAtOnce) {
  make(3);
  auto lock = acquire_granted();
  release_owed_by_last(lock);
  EXPECT_FALSE(nodes[2]->has_pending());
  eng->shutdown();
  EXPECT_TRUE(release_pending(2, *lock));
  EXPECT_FALSE(eng->idle());  // the client waits for it before closing the connection
  nodes[2]->fail(errc::client_closed, "the client is closing", true);
  EXPECT_EQ(eng->owed(2).dropped(), 1u);  // could not be delivered before closing: counted
  EXPECT_TRUE(eng->idle());
}

// A SET that timed out may still run when its node resumes, after the clean-up release went
// out on a new connection: the clean-up goes there once more a little later.
TEST_F(EngineTest, CleanUpAfterALostRoundIsSentTwiceWhereTheSetTimedOut) {
  make(3);
  acquire("r");
  nodes[0]->answer_ok();
  nodes[1]->answer_nil();
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);
  ASSERT_EQ(outcome->error(), errc::no_quorum);
  nodes[0]->answer_int(1);  // the clean-up, on the node that granted
  nodes[2]->answer_int(0);  // the clean-up, on a node that reconnected meanwhile
  EXPECT_FALSE(nodes[0]->has_pending());
  EXPECT_FALSE(nodes[2]->has_pending());
  timers.advance(milliseconds(250));
  EXPECT_FALSE(nodes[0]->has_pending());
  ASSERT_TRUE(nodes[2]->has_pending());
  EXPECT_EQ(pending_args(2)[0], "EVALSHA");
  nodes[2]->answer_int(0);
  timers.advance(milliseconds(1000));
  EXPECT_FALSE(nodes[2]->has_pending());  // twice, not more
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, LeaseReleaseIsSentTwiceWhereTheSetTimedOut) {
  make(3);
  acquire("job");
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  auto lock = outcome->value();
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);  // late: may still run
  eng->release(lock, nullptr);
  for (auto& n : nodes)
    n->answer_int(1);
  EXPECT_EQ(eng->in_flight(), 1u);  // the wait counts: an async client's loop stays alive
  timers.advance(milliseconds(250));
  EXPECT_FALSE(nodes[0]->has_pending());
  EXPECT_FALSE(nodes[1]->has_pending());
  EXPECT_TRUE(release_pending(2, *lock));
  nodes[2]->answer_int(0);
  EXPECT_EQ(eng->in_flight(), 0u);
}

// An ACL user that may SET but not EVALSHA: its releases are refused for good, so they are
// given up (and counted) instead of being sent again at every healthy answer.
TEST_F(EngineTest, ReleaseRefusedForGoodIsGivenUpNotOwed) {
  make(3);
  auto lock = acquire_granted();
  eng->release(lock, nullptr);
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  nodes[2]->answer_error_reply("NOPERM this user has no permissions to run the 'evalsha' command");
  EXPECT_EQ(eng->owed(2).owed(), 0u);
  EXPECT_EQ(eng->owed(2).dropped(), 1u);
}

}  // namespace
}  // namespace redlock::testing
