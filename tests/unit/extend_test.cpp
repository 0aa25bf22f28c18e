// Extend under every interleaving the review found: a lease's validity moves later only on a
// successful extend; every other outcome shortens it to what the nodes that may have run the
// PEXPIRE still hold; one extend round at a time; an extend racing a release never extends.
#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// start + ttl - (ttl * 0.01 + 2 ms), the default drift.
steady::time_point deadline(steady::time_point start, milliseconds ttl) {
  return detail::validity_deadline(start, ttl, 0.01);
}

TEST_F(EngineTest, ExtendMovesValidityWithAMajority) {
  make(3);
  auto lock = acquire_granted();
  clock.advance(milliseconds(1000));
  steady::time_point start = clock.now();
  auto extended = extend(lock, milliseconds(20000));
  EXPECT_THAT(pending_args(0), ElementsAre("EVALSHA", std::string(detail::extend_script.sha1), "1",
                                           "redlock:job", lock->token, "20000"));
  EXPECT_EQ(detail::eval_wire(nodes[0]->pending()),
            detail::encode_command(
                {"EVAL", detail::extend_script.source, "1", "redlock:job", lock->token, "20000"}));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(extended.ready() && *extended);
  EXPECT_EQ(lock->valid_until(), start + milliseconds(20000 - 202));
}

TEST_F(EngineTest, ShorterExtendThatSucceedsMovesValidityEarlier) {
  make(3);
  auto lock = acquire_granted();
  steady::time_point start = clock.now();
  auto extended = extend(lock, milliseconds(200));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(extended.ready() && *extended);
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(200)));
}

TEST_F(EngineTest, ExtendAfterExpiryIsLockLostWithoutAsking) {
  make(3);
  auto lock = acquire_granted(milliseconds(1000));
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
  clock.advance(milliseconds(1000));
  auto extended = extend(lock, milliseconds(1000));
  EXPECT_FALSE(extended.ready());
  timers.run_deferred();
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::lock_lost);
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
}

// The violation of the review: nodes 1 and 2 are paused, the shorter extend fails with
// no_quorum, and they run the PEXPIRE when they resume. The lease must not keep its old
// validity: it ends where those nodes' keys may end.
TEST_F(EngineTest, ShorterExtendWithoutMajorityShortensTheLease) {
  make(3);
  auto lock = acquire_granted();
  steady::time_point start = clock.now();
  auto extended = extend(lock, milliseconds(200));
  nodes[1]->fail(errc::node_timeout, "no reply within 50 ms", true);
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::no_quorum);
  EXPECT_THAT(extended->message(), HasSubstr("no majority extended"));
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(200)));
  nodes[0]->answer_int(1);  // late: changes nothing
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(200)));
}

TEST_F(EngineTest, ShorterExtendGrantedByAMinorityShortensTheLease) {
  make(3);
  auto lock = acquire_granted();
  steady::time_point start = clock.now();
  auto extended = extend(lock, milliseconds(300));
  nodes[0]->answer_int(1);
  nodes[1]->fail(errc::server_error, "", false);
  nodes[2]->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::no_quorum);
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(300)));
}

TEST_F(EngineTest, ShorterExtendThatSpentItsValidityEndsTheLease) {
  make(3);
  auto lock = acquire_granted();
  auto extended = extend(lock, milliseconds(200));
  clock.advance(milliseconds(300));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::validity_spent);
  EXPECT_LE(lock->valid_until(), clock.now());
}

TEST_F(EngineTest, ExtendRefusedByMajorityIsLockLostAndEndsTheLeaseNow) {
  make(3);
  auto lock = acquire_granted();
  clock.advance(milliseconds(10));
  auto extended = extend(lock, milliseconds(5000));
  nodes[0]->answer_int(0);
  nodes[1]->answer_int(0);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::lock_lost);
  EXPECT_EQ(lock->valid_until(), clock.now());
}

TEST_F(EngineTest, ExtendDecidedAfterTheOldValidityIsLockLost) {
  make(1);
  auto lock = acquire_granted(milliseconds(1000));
  auto extended = extend(lock, milliseconds(5000));
  clock.advance(milliseconds(1000));
  nodes[0]->answer_int(1);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::lock_lost);
  EXPECT_LE(lock->valid_until(), clock.now());
}

// The client closes while the extend is out: the nodes fail it (client_closed), but each may
// have run it.
TEST_F(EngineTest, ShorterExtendCutShortByClosingShortensTheLease) {
  make(3);
  auto lock = acquire_granted();
  steady::time_point start = clock.now();
  auto extended = extend(lock, milliseconds(200));
  eng->shutdown();
  for (auto& n : nodes)
    n->fail(errc::client_closed, "the client is closing", true);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::no_quorum);
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(200)));
}

// Only when no node can have run the PEXPIRE (every request failed before it was written)
// does a failed extend leave the validity alone. (With more nodes, one still unanswered at
// the decision may run it.)
TEST_F(EngineTest, ExtendThatReachedNoNodeKeepsTheValidity) {
  make(1);
  auto lock = acquire_granted();
  steady::time_point before = lock->valid_until();
  auto extended = extend(lock, milliseconds(200));
  nodes[0]->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::no_quorum);
  EXPECT_EQ(lock->valid_until(), before);
}

// One extend round at a time: the second call is sent only once the first has its answer
// from every node, so the validity always follows the extend the nodes ran last.
TEST_F(EngineTest, SecondExtendWaitsForTheFirstRoundToFinish) {
  make(3);
  auto lock = acquire_granted();
  auto first = extend(lock, milliseconds(20000));
  auto second = extend(lock, milliseconds(5000));
  for (auto& n : nodes)
    EXPECT_EQ(n->sent(), 2u);  // the SET and the first extend only
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(first.ready() && *first);
  EXPECT_EQ(nodes[0]->sent(), 2u);  // node 2 has not answered the first yet
  clock.advance(milliseconds(10));
  steady::time_point second_start = clock.now();
  nodes[2]->answer_int(1);
  EXPECT_THAT(pending_args(0),
              ElementsAre("EVALSHA", ::testing::_, "1", "redlock:job", lock->token, "5000"));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(second.ready() && *second);
  EXPECT_EQ(lock->valid_until(), deadline(second_start, milliseconds(5000)));
  nodes[2]->answer_int(1);
  EXPECT_EQ(eng->in_flight(), 0u);
}

// A PEXPIRE that timed out may still run on that node later, after a longer extend: that
// node's key then lives only the shorter ttl. A later success counts such nodes with it.
TEST_F(EngineTest, ExtendThatMayRunLateLimitsLaterExtends) {
  make(3);
  auto lock = acquire_granted();
  auto short_one = extend(lock, milliseconds(200));
  nodes[0]->answer_int(1);
  nodes[1]->fail(errc::node_timeout, "no reply within 50 ms", true);
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);
  ASSERT_EQ(short_one->error(), errc::no_quorum);

  steady::time_point start = clock.now();
  auto long_one = extend(lock, milliseconds(10000));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);  // a majority, but node 1 may still run the 200 ms PEXPIRE
  ASSERT_TRUE(long_one.ready() && *long_one) << long_one->message();
  EXPECT_EQ(lock->valid_until(), deadline(start, milliseconds(200)));
}

TEST_F(EngineTest, ExtendRacingAReleaseNeverExtends) {
  make(3);
  auto lock = acquire_granted();
  steady::time_point before = lock->valid_until();
  auto extended = extend(lock, milliseconds(20000));
  auto released = release(lock);  // queued behind the PEXPIRE on every connection
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::empty_lease);
  EXPECT_LE(lock->valid_until(), before);
}

TEST_F(EngineTest, ExtendWaitingBehindAnotherAfterAReleaseIsNeverSent) {
  make(3);
  auto lock = acquire_granted();
  auto first = extend(lock, milliseconds(20000));
  auto second = extend(lock, milliseconds(20000));
  auto released = release(lock);
  for (auto& n : nodes)
    n->answer_int(1);  // the first extend
  timers.run_deferred();
  ASSERT_TRUE(second.ready());
  EXPECT_EQ(second->error(), errc::empty_lease);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_TRUE(release_pending(i, *lock)) << "node " << i << " got something else";
}

}  // namespace
}  // namespace redlock::testing
