// The quorum engine driven by fake nodes, a fake clock and a fake scheduler: no sockets, no
// sleeps. Every decision is checked at the exact answer that makes it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_fixture.hpp"
#include "test_knobs.hpp"

namespace redlock::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(EngineTest, SendsSetNxPxToEveryNodeAtOnce) {
  make(5);
  acquire_options o;
  o.ttl = milliseconds(7000);
  acquire("orders:42", o);
  std::string token;
  for (auto& n : nodes) {
    ASSERT_TRUE(n->has_pending());
    auto args = args_of(n->pending().wire);
    ASSERT_EQ(args.size(), 6u);
    EXPECT_EQ(args[0], "SET");
    EXPECT_EQ(args[1], "redlock:orders:42");
    EXPECT_EQ(args[3], "NX");
    EXPECT_EQ(args[4], "PX");
    EXPECT_EQ(args[5], "7000");
    if (token.empty()) token = args[2];
    EXPECT_EQ(args[2], token);  // one token for the whole round
  }
  EXPECT_EQ(token.size(), 32u);
  EXPECT_FALSE(outcome.has_value());  // nothing decided inside the call
}

// For every N from 1 to 7: granted at exactly the quorum-th OK, not one answer earlier.
TEST_F(EngineTest, WinsAtQuorumForEveryFleetSize) {
  for (std::size_t n = 1; n <= 7; ++n) {
    SCOPED_TRACE("N=" + std::to_string(n));
    nodes.clear();
    links.clear();
    make(n);
    acquire("r");
    std::size_t quorum = n / 2 + 1;
    for (std::size_t i = 0; i < quorum; ++i) {
      EXPECT_FALSE(outcome.has_value()) << "decided after " << i << " OKs";
      nodes[i]->answer_ok();
    }
    ASSERT_TRUE(outcome.has_value());
    ASSERT_TRUE(*outcome) << outcome->message();
    EXPECT_EQ(outcome->tally().granted(), quorum);
    EXPECT_EQ(outcome->tally().unanswered(), n - quorum);
    EXPECT_EQ(outcome->tally().attempts(), 1);
    for (std::size_t i = quorum; i < n; ++i)
      nodes[i]->answer_ok();  // late OKs change nothing
  }
}

// For every N: lost at exactly the answer that makes a majority impossible.
TEST_F(EngineTest, LosesAsSoonAsMajorityIsImpossible) {
  for (std::size_t n = 1; n <= 7; ++n) {
    SCOPED_TRACE("N=" + std::to_string(n));
    nodes.clear();
    links.clear();
    make(n);
    acquire("r");
    std::size_t may_fail = n - (n / 2 + 1);
    for (std::size_t i = 0; i <= may_fail; ++i) {
      EXPECT_FALSE(outcome.has_value());
      nodes[i]->fail(errc::node_down, "Connection refused", false);
    }
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->error(), errc::no_quorum);
    EXPECT_EQ(outcome->tally().failed(), may_fail + 1);
    EXPECT_THAT(outcome->message(), HasSubstr("Connection refused"));
    EXPECT_THAT(outcome->message(), HasSubstr("redis://node0:6379"));
  }
}

TEST_F(EngineTest, RefusalsMeanHeldElsewhere) {
  make(5);
  acquire("r");
  nodes[0]->answer_ok();
  nodes[1]->answer_nil();
  nodes[2]->answer_nil();
  EXPECT_FALSE(outcome.has_value());
  nodes[3]->answer_nil();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_EQ(outcome->tally().refused(), 3u);
  EXPECT_EQ(outcome->tally().nodes()[1].vote, vote::refused);
}

TEST_F(EngineTest, MixedRefusalsAndFailuresAreNoQuorum) {
  make(5);
  acquire("r");
  nodes[0]->answer_nil();
  nodes[1]->answer_nil();
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);
  ASSERT_TRUE(outcome.has_value());
  // Two refusals alone leave a majority possible if the failed node held ours.
  EXPECT_EQ(outcome->error(), errc::no_quorum);
}

TEST_F(EngineTest, ErrorRepliesCountAsFailedWithTheServersWords) {
  make(3);
  acquire("r");
  nodes[0]->answer_error_reply("READONLY You can't write against a read only replica.");
  nodes[1]->answer_error_reply("OOM command not allowed when used memory > 'maxmemory'.");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  const auto& r0 = outcome->tally().nodes()[0];
  EXPECT_EQ(r0.vote, vote::failed);
  EXPECT_EQ(r0.error, errc::server_error);
  EXPECT_THAT(r0.detail, HasSubstr("READONLY"));
  EXPECT_THAT(outcome->message(), HasSubstr("OOM"));
}

TEST_F(EngineTest, UnexpectedReplyIsFailedNotGranted) {
  make(1);
  acquire("r");
  nodes[0]->answer(fake_node::status("QUEUED"));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->tally().nodes()[0].error, errc::unexpected_reply);
}

TEST_F(EngineTest, ValidityIsTtlMinusElapsedMinusDrift) {
  detail::engine_config config = defaults();
  config.drift_factor = 0.01;
  make(3, config);
  steady::time_point start = clock.now();
  acquire_options o;
  o.ttl = milliseconds(10000);
  acquire("r", o);
  clock.advance(milliseconds(30));
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  // ttl 10000 ms - drift (100 ms + 2 ms), counted from the round's start.
  EXPECT_EQ(outcome->value()->valid_until(), start + milliseconds(10000 - 102));
}

TEST_F(EngineTest, SpentValidityIsNeverHandedOut) {
  make(3);
  acquire_options o;
  o.ttl = milliseconds(100);  // drift 1 ms + 2 ms: valid for 97 ms after the start
  acquire("r", o);
  clock.advance(milliseconds(97));
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::validity_spent);
  EXPECT_THAT(outcome->message(), HasSubstr("after 97.0 ms"));
  // ...and the keys it set are released at once.
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(nodes[i]->has_pending());
    EXPECT_EQ(args_of(nodes[i]->pending().wire)[0], "EVALSHA");
  }
}

TEST_F(EngineTest, ValidityOneTickBeforeTheEndIsGranted) {
  make(1);
  acquire_options o;
  o.ttl = milliseconds(100);
  acquire("r", o);
  clock.advance(milliseconds(97) - std::chrono::nanoseconds(1));
  nodes[0]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  EXPECT_EQ(outcome->value()->valid_until() - clock.now(), std::chrono::nanoseconds(1));
}

TEST_F(EngineTest, FailedRoundReleasesWhereverOurKeyMayBe) {
  make(5);
  acquire("r");
  nodes[0]->answer_ok();                                 // granted: holds it
  nodes[1]->fail(errc::node_down, "refused", false);     // never reached: skip
  nodes[2]->fail(errc::node_timeout, "no reply", true);  // may have run: release
  nodes[3]->answer_nil();                                // another owner's key: skip
  ASSERT_TRUE(outcome.has_value());                      // 3 of 5 cannot grant
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_EQ(nodes[0]->sent(), 2u);
  EXPECT_EQ(nodes[1]->sent(), 1u);
  EXPECT_EQ(nodes[2]->sent(), 2u);
  EXPECT_EQ(nodes[3]->sent(), 1u);
  // Node 4 has not answered: it gets the release only once it says its SET may have run.
  EXPECT_EQ(nodes[4]->sent(), 1u);
  auto release = args_of(nodes[0]->pending().wire);
  // A clean-up: "quiet", it wakes no waiter (release.lua).
  EXPECT_THAT(release, ElementsAre("EVALSHA", std::string(detail::release_script.sha1), "1",
                                   "redlock:r", ::testing::SizeIs(32), "quiet"));
  nodes[4]->answer_ok();  // late, but our key is there now
  ASSERT_EQ(nodes[4]->sent(), 2u);
  EXPECT_EQ(args_of(nodes[4]->pending().wire), release);
}

// A lost round whose SET to a node is still unanswered is work in flight: the late answer may
// call for a clean-up, and a closing client waits for it instead of dropping it.
TEST_F(EngineTest, ALostRoundIsInFlightUntilEveryNodeAnswered) {
  make(3);
  acquire("r");
  nodes[0]->answer_nil();
  nodes[1]->answer_nil();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_FALSE(eng->idle());
  EXPECT_EQ(eng->in_flight(), 1u);
  nodes[2]->answer_ok();  // late: our key is there, and gets its clean-up
  EXPECT_TRUE(nodes[2]->has_pending());
  EXPECT_EQ(args_of(nodes[2]->pending().wire)[0], "EVALSHA");
  nodes[2]->answer_int(1);
  EXPECT_TRUE(eng->idle());
}

// A lost round's SETs that never left (a burst beyond the window: errc::overloaded) cost no
// clean-up at all, however late their answers come.
TEST_F(EngineTest, LateAnswersThatTheSetNeverLeftCostNoCleanUp) {
  make(3);
  acquire("r");
  nodes[0]->fail(errc::overloaded, "no room", false);
  nodes[1]->fail(errc::overloaded, "no room", false);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::overloaded);
  nodes[2]->fail(errc::overloaded, "no room", false);
  timers.run_deferred();
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
  EXPECT_TRUE(eng->idle());
}

TEST_F(EngineTest, RetriesWithFreshTokenWithinTheWaitBudget) {
  detail::engine_config config = defaults();
  config.retry_delay = milliseconds(100);
  config.retry_jitter = milliseconds(0);
  make(1, config);
  acquire_options o;
  o.wait = milliseconds(250);
  acquire("r", o);
  std::string first_token = args_of(nodes[0]->pending().wire)[2];
  nodes[0]->answer_nil();
  EXPECT_FALSE(nodes[0]->has_pending());  // no clean-up: the key there is not ours
  EXPECT_FALSE(outcome.has_value());
  EXPECT_EQ(timers.next_delay(), milliseconds(100));
  timers.advance(milliseconds(100));
  ASSERT_TRUE(nodes[0]->has_pending());
  std::string second_token = args_of(nodes[0]->pending().wire)[2];
  EXPECT_NE(first_token, second_token);
  nodes[0]->answer_nil();
  timers.advance(milliseconds(100));
  nodes[0]->answer_nil();  // third attempt at 200 ms; a fourth would start after 250 ms
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_EQ(outcome->tally().attempts(), 3);
  EXPECT_THAT(outcome->message(), HasSubstr("after 3 attempts"));
}

TEST_F(EngineTest, RetrySucceedsOnceTheLockIsFree) {
  detail::engine_config config = defaults();
  config.retry_delay = milliseconds(10);
  config.retry_jitter = milliseconds(5);
  make(3, config);
  acquire_options o;
  o.wait = milliseconds(1000);
  acquire("r", o);
  for (auto& n : nodes)
    n->answer_nil();
  auto delay = timers.next_delay();
  EXPECT_GE(delay, milliseconds(10));
  EXPECT_LE(delay, milliseconds(15));
  timers.advance(delay);
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  EXPECT_EQ(outcome->tally().attempts(), 2);
}

TEST_F(EngineTest, MaxAttemptsBoundsRetries) {
  detail::engine_config config = defaults();
  config.retry_jitter = milliseconds(0);
  make(1, config);
  acquire_options o;
  o.wait = milliseconds(100000);
  o.max_attempts = 2;
  acquire("r", o);
  nodes[0]->answer_nil();
  timers.advance(config.retry_delay);
  nodes[0]->answer_nil();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->tally().attempts(), 2);
  EXPECT_EQ(timers.pending_timers(), 0u);
}

TEST_F(EngineTest, ShutdownEndsAWaitingAcquire) {
  make(1);
  acquire_options o;
  o.wait = milliseconds(5000);
  acquire("r", o);
  nodes[0]->answer_nil();
  EXPECT_EQ(timers.pending_timers(), 1u);
  eng->shutdown();
  EXPECT_FALSE(outcome.has_value());  // never inside the call
  timers.run_deferred();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::client_closed);
  EXPECT_EQ(timers.pending_timers(), 0u);
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, CleanUpCountsAsInFlightUntilAnswered) {
  make(1);
  acquire_options o;
  o.ttl = milliseconds(100);
  acquire("r", o);
  clock.advance(milliseconds(200));
  nodes[0]->answer_ok();  // granted too late: validity spent, so the key is released
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::validity_spent);
  EXPECT_EQ(eng->in_flight(), 1u);
  nodes[0]->answer_int(1);
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, ActivityListenerSeesBusyAndIdle) {
  make(1);
  std::vector<bool> seen;
  eng->on_activity([&](bool busy) { seen.push_back(busy); });
  acquire("r");
  nodes[0]->answer_ok();
  EXPECT_THAT(seen, ElementsAre(true, false));
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, BinarySafeResourceNames) {
  make(1);
  std::string resource("a\0b\r\n", 5);
  acquire(resource);
  EXPECT_EQ(args_of(nodes[0]->pending().wire)[1], "redlock:" + resource);
  nodes[0]->answer_nil();
  EXPECT_THAT(outcome->message(), HasSubstr("'a\\x00b\\x0d\\x0a'"));
}

// Cancelling: an acquire waiting to retry ends at once and tries no more.
TEST_F(EngineTest, CancelEndsARetryWaitAtOnce) {
  make(1);
  acquire_options o;
  o.wait = milliseconds(10000);
  outcome.reset();
  std::uint64_t id = eng->acquire(
      {"r"}, o, [this](result<std::shared_ptr<lock_record>> r) { outcome.emplace(std::move(r)); });
  nodes[0]->answer_nil();  // busy: waits to retry
  ASSERT_FALSE(outcome.has_value());
  eng->cancel(id);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::cancelled);
  EXPECT_EQ(outcome->tally().refused(), 1u);  // the last round's
  timers.advance(milliseconds(20000));
  EXPECT_FALSE(nodes[0]->has_pending());
  EXPECT_TRUE(eng->idle());
  eng->cancel(id);  // finished: nothing happens
}

// Cancelled with a round out: the caller is told now; the round, if it wins, is released.
TEST_F(EngineTest, CancelDuringARoundReleasesWhatTheRoundWins) {
  make(3);
  outcome.reset();
  std::uint64_t id = eng->acquire(
      {"r"}, {}, [this](result<std::shared_ptr<lock_record>> r) { outcome.emplace(std::move(r)); });
  nodes[0]->answer_ok();
  eng->cancel(id);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::cancelled);
  nodes[1]->answer_ok();  // a majority: won, but nobody takes it
  EXPECT_TRUE(nodes[0]->has_pending());
  EXPECT_EQ(args_of(nodes[0]->pending().wire)[1], detail::release_script.sha1);
  EXPECT_TRUE(nodes[1]->has_pending());
  nodes[2]->answer_ok();  // late: cleaned up too
  ASSERT_TRUE(nodes[2]->has_pending());
  EXPECT_EQ(args_of(nodes[2]->pending().wire)[1], detail::release_script.sha1);
}

// lib/test_knobs.hpp, for the torture's negative control only: a quorum of 1 of 3 grants at
// the first node's SET. No option of the library reaches it.
TEST_F(EngineTest, TheTestOnlyQuorumKnobSetsTheVotesOfAMajority) {
  detail::test_knobs::quorum = 1;
  detail::engine_config config = defaults();
  detail::test_knobs::quorum = 0;
  EXPECT_EQ(config.quorum, 1u);
  EXPECT_EQ(defaults().quorum, 0u);
  make(3, config);
  acquire("r");
  nodes[0]->answer_ok();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
}

}  // namespace
}  // namespace redlock::testing
