// Batched automatic extensions (keeper -> engine::extend_many): leases due together go out as
// one extend_many.lua call per node, and each lease is decided from its own per-key results
// exactly as its own extend round would be.
#include <string>
#include <vector>

#include "engine_fixture.hpp"
#include "keeper.hpp"
#include "scripts.hpp"

namespace redlock::testing {
namespace {

using ::testing::HasSubstr;

class ExtendBatchTest : public EngineTest {
 protected:
  void make_keeper(std::size_t n, milliseconds batch_window = milliseconds(0)) {
    make(n);
    keep = std::make_unique<detail::keeper>(
        *eng, timers, clock,
        detail::keeper::config{milliseconds(50), milliseconds(50), batch_window});
  }
  // A lock on `resource` granted with ttl 1000 ms and auto-extension, watched by the keeper.
  std::shared_ptr<lock_record> hold(const std::string& resource,
                                    milliseconds ttl = milliseconds(1000)) {
    acquire_options o;
    o.ttl = ttl;
    o.auto_extend.enabled = true;
    o.on_lost = [this, resource](const lease_lost& l) { lost.emplace_back(resource, l); };
    auto lock = acquire_granted(resource, o);
    keep->watch(lock, o);
    return lock;
  }
  std::vector<std::shared_ptr<lock_record>> hold_many(std::size_t count) {
    std::vector<std::shared_ptr<lock_record>> out;
    for (std::size_t i = 0; i < count; ++i)
      out.push_back(hold("job" + std::to_string(i)));
    return out;
  }
  static detail::reply results(const std::vector<int>& per_key) {
    detail::reply r;
    r.kind = detail::reply::type::array;
    for (int v : per_key) {
      detail::reply e;
      e.kind = detail::reply::type::integer;
      e.integer = v;
      r.elements.push_back(e);
    }
    return r;
  }
  // The keys of node `i`'s pending extend_many call (empty if it is not one).
  std::vector<std::string> batch_keys(std::size_t i) const {
    auto args = pending_args(i);
    if (args.size() < 3 || args[0] != "EVALSHA" || args[1] != detail::extend_many_script.sha1)
      return {};
    std::size_t keys = std::stoul(args[2]);
    EXPECT_EQ(args.size(), 3 + 3 * keys);  // keys, then a token and a ttl per key
    return {args.begin() + 3, args.begin() + 3 + static_cast<std::ptrdiff_t>(keys)};
  }
  void advance_ms(int ms) {
    for (int i = 0; i < ms; ++i)
      timers.advance(milliseconds(1));
  }

  std::unique_ptr<detail::keeper> keep;
  std::vector<std::pair<std::string, lease_lost>> lost;
};

// Half of the validity (988 ms) after the grant, 494 ms: the extensions come due together.
TEST_F(ExtendBatchTest, LeasesDueTogetherGoOutAsOneCallPerNode) {
  make_keeper(3);
  auto locks = hold_many(3);
  std::vector<std::size_t> before;
  for (auto& n : nodes)
    before.push_back(n->sent());
  advance_ms(494);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(nodes[i]->sent() - before[i], 1u) << "node " << i;
    EXPECT_THAT(batch_keys(i),
                ::testing::ElementsAre(locks[0]->keys[0], locks[1]->keys[0], locks[2]->keys[0]));
    auto args = pending_args(i);
    EXPECT_EQ(args[3 + 3], locks[0]->token);
    EXPECT_EQ(args[3 + 4], "1000");
  }
  for (auto& n : nodes)
    n->answer(results({1, 1, 1}));
  timers.run_deferred();
  for (auto& lock : locks)
    EXPECT_EQ(lock->valid_until() - clock.now(), milliseconds(988));
  EXPECT_EQ(keep->counters().auto_extends.succeeded, 3u);
  EXPECT_TRUE(lost.empty());
}

TEST_F(ExtendBatchTest, OneLeaseRefusedOnAMajorityIsLostWhileTheOthersAreExtended) {
  make_keeper(3);
  auto locks = hold_many(3);
  advance_ms(494);
  nodes[0]->answer(results({1, 0, 1}));
  nodes[1]->answer(results({1, 0, 1}));
  nodes[2]->answer(results({1, 1, 1}));
  timers.run_deferred();
  EXPECT_TRUE(locks[1]->lost(clock.now()));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].first, "job1");
  EXPECT_EQ(lost[0].second.why, lease_lost::cause::refused);
  EXPECT_EQ(lost[0].second.votes.refused(), 2u);
  for (std::size_t k : {0u, 2u}) {
    EXPECT_FALSE(locks[k]->lost(clock.now()));
    EXPECT_EQ(locks[k]->valid_until() - clock.now(), milliseconds(988));
  }
  // The next batch holds the two survivors only.
  advance_ms(494);
  EXPECT_THAT(batch_keys(0), ::testing::ElementsAre(locks[0]->keys[0], locks[2]->keys[0]));
}

TEST_F(ExtendBatchTest, ANodeTimingOutFailsThatNodesVoteForEveryLease) {
  make_keeper(3);
  auto locks = hold_many(2);
  auto old_valid_until = locks[0]->valid_until();
  advance_ms(494);
  nodes[0]->fail(errc::node_timeout, "no reply within 50 ms", true);
  nodes[1]->fail(errc::node_timeout, "no reply within 50 ms", true);
  timers.run_deferred();
  // Two of three failed for both leases: no majority; nothing moved later, both retried.
  nodes[2]->answer(results({1, 1}));
  timers.run_deferred();
  EXPECT_EQ(keep->counters().auto_extends.failed, 2u);
  for (auto& lock : locks) {
    EXPECT_LE(lock->valid_until(), old_valid_until);
    EXPECT_FALSE(lock->lost(clock.now()));
    // The timed-out PEXPIRE may still run late there: later extends count on its ttl at most.
    EXPECT_EQ(lock->late_ttl[0], milliseconds(1000));
  }
  advance_ms(50);  // retry_delay
  EXPECT_THAT(batch_keys(0), ::testing::ElementsAre(locks[0]->keys[0], locks[1]->keys[0]));
  // One node timing out with the others granting: extended.
  nodes[0]->fail(errc::node_timeout, "no reply within 50 ms", true);
  nodes[1]->answer(results({1, 1}));
  nodes[2]->answer(results({1, 1}));
  timers.run_deferred();
  EXPECT_EQ(keep->counters().auto_extends.succeeded, 2u);
  EXPECT_GT(locks[0]->valid_until(), old_valid_until);
}

TEST_F(ExtendBatchTest, ValidityCountsFromTheBatchStart) {
  make_keeper(3);
  auto locks = hold_many(2);
  advance_ms(494);
  auto start = clock.now();
  clock.advance(milliseconds(30));  // slow answers
  for (auto& n : nodes)
    n->answer(results({1, 1}));
  timers.run_deferred();
  for (auto& lock : locks)
    EXPECT_EQ(lock->valid_until(), start + milliseconds(988));
}

// The rule for a failed shorter extend: validity shrinks to what the nodes that may have run
// it hold. An error reply may come from a script stopped halfway: it counts as may have run.
TEST_F(ExtendBatchTest, AFailedShorterBatchShortensEveryLeaseItMayHaveReached) {
  make_keeper(3);
  auto locks = hold_many(2);
  auto start = clock.now();
  std::vector<outcome_of<void>> outs(2);
  std::vector<engine::batch_member> members;
  for (std::size_t k = 0; k < 2; ++k)
    members.push_back({locks[k], milliseconds(300), outs[k].callback()});
  eng->extend_many(std::move(members));
  nodes[0]->answer_error_reply("ERR Error running script: OOM");
  nodes[1]->answer(results({1, 1, 1}));  // not of this batch's shape
  nodes[2]->answer(results({1, 1}));
  timers.run_deferred();
  for (std::size_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(outs[k].ready());
    EXPECT_EQ(outs[k]->error(), errc::no_quorum) << outs[k]->message();
    EXPECT_THAT(outs[k]->message(), HasSubstr("3 results for 2 keys"));
    // 300 - (3 + 2) ms of drift from the batch start.
    EXPECT_EQ(locks[k]->valid_until(), start + milliseconds(295));
  }
}

TEST_F(ExtendBatchTest, ALeaseReleasedDuringItsBatchIsNotExtendedAndIsReleased) {
  make_keeper(3);
  auto locks = hold_many(2);
  advance_ms(494);
  keep->released(*locks[0]);
  auto released = release(locks[0]);
  for (auto& n : nodes)
    n->answer(results({1, 1}));
  timers.run_deferred();
  EXPECT_LE(locks[0]->valid_until(), clock.now());
  EXPECT_EQ(locks[1]->valid_until() - clock.now(), milliseconds(988));
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_TRUE(release_pending(i, *locks[0])) << "node " << i;
    nodes[i]->answer_int(1);
  }
  timers.run_deferred();
  ASSERT_TRUE(released.ready());
  EXPECT_TRUE(*released) << released->message();
  advance_ms(494);  // the next batch: the released lease is not in it (one left: single path)
  auto args = pending_args(0);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[1], detail::extend_script.sha1);
  EXPECT_EQ(args[3], locks[1]->keys[0]);
}

TEST_F(ExtendBatchTest, ACallersExtendDuringABatchWaitsForIt) {
  make_keeper(3);
  auto locks = hold_many(2);
  advance_ms(494);
  auto asked = outcome_of<void>();
  keep->extend(locks[0], milliseconds(2000), asked.callback());
  timers.run_deferred();
  // Decided at the second answer, but in flight until every node answered: the caller's
  // extend waits for that.
  nodes[0]->answer(results({1, 1}));
  nodes[1]->answer(results({1, 1}));
  timers.run_deferred();
  EXPECT_FALSE(nodes[0]->has_pending());
  EXPECT_FALSE(nodes[1]->has_pending());
  nodes[2]->answer(results({1, 1}));
  timers.run_deferred();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto args = pending_args(i);
    ASSERT_EQ(args.size(), 6u);
    EXPECT_EQ(args[1], detail::extend_script.sha1);
    EXPECT_EQ(args[3], locks[0]->keys[0]);
    EXPECT_EQ(args[5], "2000");
    nodes[i]->answer_int(1);
  }
  timers.run_deferred();
  ASSERT_TRUE(asked.ready());
  EXPECT_TRUE(*asked) << asked->message();
}

TEST_F(ExtendBatchTest, ALeaseWithAnExtendInFlightIsLeftOutOfTheBatch) {
  make_keeper(3);
  auto locks = hold_many(3);
  advance_ms(490);
  auto asked = outcome_of<void>();
  keep->extend(locks[1], milliseconds(1000), asked.callback());
  advance_ms(4);
  // Each node: the caller's extend, then the batch of the other two.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(pending_args(i)[1], detail::extend_script.sha1);
    nodes[i]->answer_int(1);
    EXPECT_THAT(batch_keys(i), ::testing::ElementsAre(locks[0]->keys[0], locks[2]->keys[0]));
  }
}

// More than max_batch due together: several calls, one in flight at a time, so that each
// call's deadline counts its own time on the server, not that of the calls queued before it.
TEST_F(ExtendBatchTest, MoreThanMaxBatchDueGoOutAsSeveralCallsOneAtATime) {
  make_keeper(3);
  auto locks = hold_many(engine::max_batch + 5);
  std::size_t before = nodes[0]->sent();
  advance_ms(494);
  EXPECT_EQ(nodes[0]->sent() - before, 1u);
  EXPECT_EQ(batch_keys(0).size(), engine::max_batch);
  for (std::size_t i = 0; i + 1 < nodes.size(); ++i)
    nodes[i]->answer(results(std::vector<int>(engine::max_batch, 1)));
  EXPECT_EQ(nodes[0]->sent() - before, 1u);  // the first call is not complete on every node
  nodes.back()->answer(results(std::vector<int>(engine::max_batch, 1)));
  EXPECT_EQ(nodes[0]->sent() - before, 2u);
  EXPECT_EQ(batch_keys(0).size(), 5u);
  for (auto& n : nodes)
    n->answer(results(std::vector<int>(5, 1)));
  timers.run_deferred();
  EXPECT_EQ(keep->counters().auto_extends.succeeded, engine::max_batch + 5);
}

// A queued batch is looked at again when it goes out: a lease released meanwhile is not in
// it (its extend ends empty_lease), and closing the engine ends the queued ones at once.
TEST_F(ExtendBatchTest, AQueuedBatchSkipsLeasesReleasedMeanwhileAndEndsOnShutdown) {
  make_keeper(3);
  auto locks = hold_many(engine::max_batch + 3);
  advance_ms(494);
  ASSERT_EQ(batch_keys(0).size(), engine::max_batch);
  auto& late = locks[engine::max_batch];  // in the queued batch
  keep->released(*late);
  release(late);
  for (auto& n : nodes)
    n->answer(results(std::vector<int>(engine::max_batch, 1)));  // the first call
  for (auto& n : nodes)
    n->answer_int(1);  // the release, sent while the first call was out
  EXPECT_THAT(batch_keys(0), ::testing::ElementsAre(locks[engine::max_batch + 1]->keys[0],
                                                    locks[engine::max_batch + 2]->keys[0]));
  for (auto& n : nodes)
    n->answer(results({1, 1}));
  timers.run_deferred();
  EXPECT_EQ(keep->counters().auto_extends.succeeded, engine::max_batch + 2);

  // The next period: the first call goes out, the second waits; shutdown ends the waiting one.
  for (int ms = 0; ms < 1000 && batch_keys(0).size() != engine::max_batch; ++ms)
    advance_ms(1);
  ASSERT_EQ(batch_keys(0).size(), engine::max_batch);
  std::uint64_t failed = keep->counters().auto_extends.failed;
  eng->shutdown();
  timers.run_deferred();
  EXPECT_EQ(keep->counters().auto_extends.failed, failed + 2);
  for (auto& n : nodes)
    n->answer(results(std::vector<int>(engine::max_batch, 1)));
  EXPECT_FALSE(nodes[0]->has_pending());
}

// With a grid of 100 ms (ttl 10 s), leases granted 5 ms apart come due at the same instant,
// both before their own schedule.
TEST_F(ExtendBatchTest, LeasesGrantedWithinOneGridStepShareABatchNeverLate) {
  make_keeper(3, milliseconds(100));
  auto first = hold("a", milliseconds(10000));
  auto first_granted = clock.now();
  advance_ms(5);
  auto second = hold("b", milliseconds(10000));
  std::size_t before = nodes[0]->sent();
  // Their own schedules: 4994 ms after each grant (half of 9988 ms of validity).
  advance_ms(4994 - 5 - 100);
  EXPECT_EQ(nodes[0]->sent(), before);
  while (nodes[0]->sent() == before)
    advance_ms(1);
  EXPECT_LE(clock.now(), first_granted + milliseconds(4994));
  EXPECT_EQ(nodes[0]->sent() - before, 1u);
  EXPECT_THAT(batch_keys(0), ::testing::ElementsAre(first->keys[0], second->keys[0]));
}

}  // namespace
}  // namespace redlock::testing
