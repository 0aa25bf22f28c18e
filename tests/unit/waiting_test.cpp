// Waiting by notification in the engine (fake nodes, clock and scheduler): which acquires are
// watched, and how a release notice or a confirmed subscription wakes a waiter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using detail::key_notice;
using std::chrono::microseconds;
using std::chrono::nanoseconds;
using ::testing::ElementsAre;

class WaitingTest : public EngineTest {
 protected:
  void SetUp() override {
    detail::engine_config config = defaults();
    config.retry_delay = milliseconds(5000);
    config.retry_jitter = milliseconds(0);
    config.wake_spread = microseconds(100);
    make(3, config);
    eng->set_key_watch(&watch);
  }
  static acquire_options waiting() {
    acquire_options o;
    o.wait = milliseconds(20000);
    return o;
  }
  // An acquire of "job" with a wait budget of `budget`, its key's releases reaching us
  // already (the subscription confirmed).
  void wait_for_job(milliseconds budget) {
    watch.delivering = true;
    acquire_options o = waiting();
    o.wait = budget;
    acquire("job", o);
  }
  // A waiter's SET is acquire.lua: 1 = set, {-1, token} = KEYS[1] is another owner's.
  void refuse_everywhere() {
    for (auto& n : nodes)
      n->answer_refusal(1, "holder");
  }
  void grant_everywhere() {
    for (auto& n : nodes)
      n->answer_int(1);
  }
  recording_watch watch;
};

TEST_F(WaitingTest, AnAcquireWithAWaitBudgetIsWatchedBeforeItsFirstAttemptUntilItEnds) {
  acquire("job", waiting());
  ASSERT_THAT(watch.watched, ElementsAre("redlock:job"));
  EXPECT_TRUE(nodes[0]->has_pending());
  EXPECT_TRUE(watch.unwatched.empty());
  grant_everywhere();
  ASSERT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "");
  EXPECT_THAT(watch.unwatched, ElementsAre("redlock:job"));
}

// A waiter's SET is announced (acquire.lua), so that the other waiters woken by the same
// release can stand down.
TEST_F(WaitingTest, AWatchedAcquireSetsTheKeyWithTheAnnouncingScript) {
  acquire("job", waiting());
  auto args = args_of(nodes[0]->pending().wire);
  ASSERT_EQ(args.size(), 8u);
  EXPECT_EQ(args[0], "EVALSHA");
  EXPECT_EQ(args[1], detail::acquire_script.sha1);
  EXPECT_EQ(args[3], "redlock:job");
  EXPECT_EQ(args[5], "10000");  // a single attempt's SET: EngineTest.SendsSetNxPxToEveryNodeAtOnce
  EXPECT_EQ(args[6], "tell");
  EXPECT_FALSE(args[7].empty());  // the teller, this waiter
}

TEST_F(WaitingTest, OneAttemptOnlyIsNotWatched) {
  acquire("job");  // no wait budget
  acquire_options once = waiting();
  once.max_attempts = 1;
  acquire("other", once);
  EXPECT_TRUE(watch.watched.empty());
}

TEST_F(WaitingTest, AReleaseWakesAWaiterLongBeforeItsRetryDelay) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
  eng->notice("redlock:job", key_notice::released);
  EXPECT_LE(timers.next_delay(), microseconds(100));
  timers.advance(microseconds(100));
  ASSERT_TRUE(nodes[0]->has_pending());
  grant_everywhere();
  ASSERT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "");
  EXPECT_EQ(outcome->tally().attempts(), 2);
}

TEST_F(WaitingTest, AReleaseHeardWhileTheAttemptIsOutRetriesSoonAfterItsRefusal) {
  watch.delivering = true;
  acquire("job", waiting());
  eng->notice("redlock:job", key_notice::released);  // the holder released as we asked
  refuse_everywhere();
  EXPECT_LE(timers.next_delay(), microseconds(100));
}

// Woken by a release, then another waiter's SET is announced before ours went out: ours would
// fail, so the waiter goes back to waiting (the retry delay, or the next release).
TEST_F(WaitingTest, AWokenWaiterStandsDownWhenAnotherTakesTheLock) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  eng->notice("redlock:job", key_notice::released);
  EXPECT_LE(timers.next_delay(), microseconds(100));
  eng->notice("redlock:job", key_notice::taken);
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
  timers.advance(microseconds(100));
  EXPECT_FALSE(nodes[0]->has_pending());
  // A release heard while its attempt is out, then the taking: its refusal waits.
  eng->notice("redlock:job", key_notice::released);
  timers.advance(microseconds(100));
  ASSERT_TRUE(nodes[0]->has_pending());
  eng->notice("redlock:job", key_notice::released);
  eng->notice("redlock:job", key_notice::taken);
  refuse_everywhere();
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// The release says how many clients listen: the woken spread over that many slots (of
// wake_spread each), capped so that a hostile count cannot hold a waiter for long.
TEST_F(WaitingTest, TheWakeUpDelaySpreadsOverTheClientsListening) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  std::chrono::nanoseconds longest{0};
  for (int i = 0; i < 200; ++i) {
    eng->notice("redlock:job", key_notice::taken);  // back to the retry delay
    eng->notice("redlock:job", key_notice::released, 8);
    longest = std::max(longest, timers.next_delay());
  }
  EXPECT_LE(longest, microseconds(800));
  EXPECT_GT(longest, microseconds(500));  // one slot would be 100 us
  eng->notice("redlock:job", key_notice::taken);
  eng->notice("redlock:job", key_notice::released, 1'000'000'000);
  EXPECT_LE(timers.next_delay(), milliseconds(100));
}

// One release is published by every node: the first notice draws the delay, the others do not
// draw again (the least of N draws would shrink the spread N times).
TEST_F(WaitingTest, TheSameReleaseFromEveryNodeWakesOnce) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  eng->notice("redlock:job", key_notice::released, 8);
  auto first = timers.next_delay();
  for (int node = 1; node < 5; ++node) {
    eng->notice("redlock:job", key_notice::released, 8);
    EXPECT_EQ(timers.next_delay(), first);
  }
}

// `taken` sends a woken waiter back to the retry it had before the wake, not a fresh delay
// from now, and never past its budget.
TEST_F(WaitingTest, StandingDownReturnsToTheEarlierRetryWithinTheBudget) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();  // retry due 5 s from now
  timers.advance(milliseconds(3000));
  eng->notice("redlock:job", key_notice::released);
  eng->notice("redlock:job", key_notice::taken);
  EXPECT_EQ(timers.next_delay(), milliseconds(2000));
  // Near the end of the budget (20 s): the earlier retry is past it, so the woken attempt
  // stays, the last chance.
  timers.advance(milliseconds(2000));
  refuse_everywhere();  // the 5 s retry: refused; the next would be at 10 s
  timers.advance(milliseconds(5000));
  refuse_everywhere();  // at 10 s; next at 15 s
  timers.advance(milliseconds(5000));
  refuse_everywhere();  // at 15 s; a retry at 20 s is past the budget: listens until then
  EXPECT_FALSE(outcome.has_value());
  timers.advance(milliseconds(5000));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
}

TEST_F(WaitingTest, ReleasesOfOtherKeysWakeNobody) {
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  eng->notice("redlock:other", key_notice::released);
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// The subscription was confirmed only after the first attempt went out: a release between
// the refusal and the subscription would be missed, so the confirmation wakes the waiter,
// once; a waiter already covered is not woken by it.
TEST_F(WaitingTest, ASubscriptionConfirmedAfterTheFirstAttemptWakesTheWaiterOnce) {
  acquire("job", waiting());
  refuse_everywhere();
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
  eng->notice("redlock:job", key_notice::delivering);
  EXPECT_LE(timers.next_delay(), microseconds(100));
  timers.advance(microseconds(100));
  refuse_everywhere();
  eng->notice("redlock:job", key_notice::delivering);  // another node confirms
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
  // Every subscription lost, then confirmed again: releases may have been missed meanwhile.
  eng->notice("redlock:job", key_notice::not_delivering);
  eng->notice("redlock:job", key_notice::delivering);
  EXPECT_LE(timers.next_delay(), microseconds(100));
}

// With no retry left in the budget (5 s retry delay, 100 ms budget), a waiter still listens
// until the budget ends: a release then wakes it for one more attempt.
TEST_F(WaitingTest, AWaiterWithNoRetryLeftListensUntilItsBudgetEnds) {
  wait_for_job(milliseconds(100));
  refuse_everywhere();
  EXPECT_FALSE(outcome.has_value());
  EXPECT_EQ(timers.next_delay(), milliseconds(100));
  timers.advance(milliseconds(50));
  eng->notice("redlock:job", key_notice::released);
  timers.advance(microseconds(100));
  ASSERT_TRUE(nodes[0]->has_pending()) << "not woken";
  grant_everywhere();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
}

TEST_F(WaitingTest, AWakeNeverOutlivesTheWaitBudget) {
  wait_for_job(milliseconds(100));
  refuse_everywhere();  // 5 s retry delay > 100 ms budget: listens until the budget ends
  EXPECT_FALSE(outcome.has_value());
  timers.advance(milliseconds(100));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_FALSE(nodes[0]->has_pending());  // no attempt past the budget
  EXPECT_THAT(watch.unwatched, ElementsAre("redlock:job"));
  eng->notice("redlock:job", key_notice::released);
  EXPECT_FALSE(nodes[0]->has_pending());
}

// A wake whose drawn delay would pass the budget comes just before it ends instead: a release
// heard while the last attempt was out, and one heard while listening out the budget.
TEST_F(WaitingTest, AWakeDrawnPastTheBudgetComesBeforeItEnds) {
  wait_for_job(milliseconds(2));
  // 1,000 listening: a delay drawn from [0, 100 ms], far past a 2 ms budget.
  eng->notice("redlock:job", key_notice::released, 1000);  // while the attempt is out
  refuse_everywhere();
  EXPECT_FALSE(outcome.has_value());
  timers.advance(milliseconds(2) - nanoseconds(1));
  ASSERT_TRUE(nodes[0]->has_pending()) << "the release heard during the attempt was dropped";
  refuse_everywhere();
  timers.advance(nanoseconds(1));  // the end of the budget
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);

  wait_for_job(milliseconds(100));
  refuse_everywhere();  // no retry fits: listens out the budget
  timers.advance(milliseconds(95));
  eng->notice("redlock:job", key_notice::released, 1000);
  timers.advance(milliseconds(5) - nanoseconds(1));
  ASSERT_TRUE(nodes[0]->has_pending()) << "the release heard while listening was dropped";
  grant_everywhere();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
}

// Listening out the budget is for a lock held elsewhere, which a release can free; an outage
// with no retry left fails at once.
TEST_F(WaitingTest, OnlyAHeldLockIsListenedForPastTheLastRetry) {
  wait_for_job(milliseconds(100));
  for (auto& n : nodes)
    n->fail(errc::node_down, "connection refused", false);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
}

// However many listen (or a hostile count says), a wake-up is never slower than the retry.
TEST_F(WaitingTest, AWakeUpIsNeverSlowerThanTheRetryDelay) {
  nodes.clear();
  links.clear();
  detail::engine_config config = defaults();
  config.retry_delay = milliseconds(20);
  config.retry_jitter = milliseconds(0);
  make(3, config);
  eng->set_key_watch(&watch);
  watch.delivering = true;
  acquire("job", waiting());
  refuse_everywhere();
  eng->notice("redlock:job", key_notice::released, 1'000'000);
  EXPECT_LE(timers.next_delay(), milliseconds(20));
}

// Shutdown defers the end of the acquires waiting to retry; a cancel that runs first ends
// one of them, and the deferred end must not run its callback a second time.
TEST_F(WaitingTest, ACancelBetweenShutdownAndItsDeferredEndCompletesOnce) {
  int calls = 0;
  auto id =
      eng->acquire({"job"}, waiting(), [&](result<std::shared_ptr<lock_record>>) { ++calls; });
  refuse_everywhere();
  eng->shutdown();
  eng->cancel(id);
  timers.run_deferred();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(WaitingTest, CancellingAWaiterUnwatchesIt) {
  auto id = eng->acquire({"job"}, waiting(), [this](result<std::shared_ptr<lock_record>> r) {
    outcome.emplace(std::move(r));
  });
  refuse_everywhere();
  eng->cancel(id);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::cancelled);
  EXPECT_THAT(watch.unwatched, ElementsAre("redlock:job"));
  eng->notice("redlock:job", key_notice::released);
  EXPECT_EQ(timers.pending_timers(), 0u);
}

TEST_F(WaitingTest, ManyWaitersWokenAtOnceSpreadTheirAttempts) {
  watch.delivering = true;
  constexpr int waiters = 20;
  std::vector<outcome_of<std::shared_ptr<lock_record>>> outcomes(waiters);
  for (auto& o : outcomes)
    eng->acquire({"job"}, waiting(), o.callback());
  refuse_everywhere();  // each node answers every pending SET
  while (nodes[0]->has_pending())
    refuse_everywhere();
  eng->notice("redlock:job", key_notice::released);
  // The attempts go out at different moments within the spread, not all in one tick.
  int ticks_with_attempts = 0;
  for (int us = 0; us <= 100; us += 5) {
    timers.advance(microseconds(5));
    if (nodes[0]->has_pending()) ++ticks_with_attempts;
    while (nodes[0]->has_pending())
      refuse_everywhere();
  }
  EXPECT_GE(ticks_with_attempts, 8);
}

// Each of three contenders took one node: nobody holds a majority and every clean-up is quiet,
// so no release will come. The waiter tries again soon, not after its 5 s retry delay.
TEST_F(WaitingTest, ASplitVoteIsTriedAgainSoonNotAfterTheRetryDelay) {
  wait_for_job(milliseconds(20000));
  nodes[0]->answer_int(1);
  nodes[1]->answer_refusal(1, "b");
  nodes[2]->answer_refusal(1, "c");
  ASSERT_FALSE(outcome.has_value());
  EXPECT_LE(timers.next_delay(), microseconds(100));
  timers.advance(microseconds(100));
  nodes[0]->answer_int(1);  // the clean-up of our key there
  ASSERT_TRUE(nodes[0]->has_pending());
  grant_everywhere();
  ASSERT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "");
  EXPECT_EQ(outcome->tally().attempts(), 2);
}

// One owner on a majority holds the lock: its release is what the waiter waits for.
TEST_F(WaitingTest, OneOwnerOnAMajorityIsWaitedForNotTriedAgainSoon) {
  wait_for_job(milliseconds(20000));
  nodes[0]->answer_int(1);
  nodes[1]->answer_refusal(1, "b");
  nodes[2]->answer_refusal(1, "b");
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// A node that failed may hold the key of either owner: no split can be told.
TEST_F(WaitingTest, AFailedNodeMayBeAnyOwnersSoNoSplitIsTold) {
  wait_for_job(milliseconds(20000));
  nodes[0]->answer_refusal(1, "b");
  nodes[1]->answer_refusal(1, "c");
  nodes[2]->fail(errc::node_timeout, "timed out", true);
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// A key of another type names no owner: no split either.
TEST_F(WaitingTest, ARefusalWithNoOwnerTellsNoSplit) {
  wait_for_job(milliseconds(20000));
  nodes[0]->answer_int(1);
  nodes[1]->answer_refusal(1, "b");
  nodes[2]->answer_refusal(1, "");
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// Split after split (or a leftover key on a minority that never goes): each try's spread
// doubles, up to the retry delay; a release heard starts it again from one slot.
TEST_F(WaitingTest, SplitsAgainBackOffUntilAReleaseIsHeard) {
  wait_for_job(milliseconds(600000));
  auto split = [&] {
    nodes[0]->answer_int(1);
    nodes[1]->answer_refusal(1, "b");
    nodes[2]->answer_refusal(1, "c");
    nodes[0]->answer_int(1);  // the clean-up
  };
  nanoseconds longest{0};
  for (int k = 0; k < 24; ++k) {
    split();
    nanoseconds delay = timers.next_delay();
    EXPECT_LE(delay, std::min<nanoseconds>(microseconds(100 << k), milliseconds(5000)))
        << "split " << k;
    longest = std::max(longest, delay);
    timers.advance(delay);
    ASSERT_TRUE(nodes[0]->has_pending()) << "split " << k;
  }
  EXPECT_GT(longest, milliseconds(100));  // it did back off
  eng->notice("redlock:job", key_notice::released);
  split();
  EXPECT_LE(timers.next_delay(), microseconds(100));
}

// The waiter's own SET, heard after its round was refused elsewhere, is not another's taking.
TEST_F(WaitingTest, AWaitersOwnTakingDoesNotSendItBackToWaiting) {
  wait_for_job(milliseconds(20000));
  std::string teller = args_of(nodes[0]->pending().wire).at(7);
  refuse_everywhere();
  eng->notice("redlock:job", key_notice::released);
  ASSERT_LE(timers.next_delay(), microseconds(100));
  eng->notice("redlock:job", key_notice::taken, 1, teller);  // its SET of the last attempt
  EXPECT_LE(timers.next_delay(), microseconds(100));
  eng->notice("redlock:job", key_notice::taken, 1, "someone else:1");
  EXPECT_EQ(timers.next_delay(), milliseconds(5000));
}

// Another contender's `taken` after a split does not call the back-off off: the contenders of
// one split all back off, and each hears the others' next SETs; standing down on them left
// every one of them waiting for its retry delay.
TEST_F(WaitingTest, AnotherTakingAfterASplitDoesNotCallTheBackOffOff) {
  wait_for_job(milliseconds(20000));
  nodes[0]->answer_int(1);
  nodes[1]->answer_refusal(1, "b");
  nodes[2]->answer_refusal(1, "c");
  nodes[0]->answer_int(1);
  EXPECT_LE(timers.next_delay(), microseconds(100));
  eng->notice("redlock:job", key_notice::taken, 1, "b-client:1");
  EXPECT_LE(timers.next_delay(), microseconds(100));
  timers.advance(microseconds(100));
  EXPECT_TRUE(nodes[0]->has_pending());
}

}  // namespace
}  // namespace redlock::testing
