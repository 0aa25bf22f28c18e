// The keeper on the engine's fakes: the lost signal (early, at the margin, exactly once, never
// after a release), auto-extension (on time, retried after a failure, ended by a refusal or by
// max_hold), closing with leases held, and what it counts for metrics().
#include "keeper.hpp"
#include "engine_fixture.hpp"
#include "scripts.hpp"

namespace redlock::testing {
namespace {

using ::testing::HasSubstr;

class KeeperTest : public EngineTest {
 protected:
  void make_keeper(std::size_t n) {
    make(n);
    keep = std::make_unique<detail::keeper>(
        *eng, timers, clock, detail::keeper::config{milliseconds(50), milliseconds(50)});
  }
  // A lock granted with `o` (ttl 1000 ms unless set), watched by the keeper.
  std::shared_ptr<lock_record> hold(acquire_options o = {}) {
    if (o.ttl == acquire_options{}.ttl) o.ttl = milliseconds(1000);
    o.on_lost = [this](const lease_lost& l) { signals.push_back(l); };
    auto lock = acquire_granted("job", o);
    keep->watch(lock, o);
    return lock;
  }
  acquire_options auto_extended() {
    acquire_options o;
    o.auto_extend.enabled = true;
    return o;
  }
  // Answers every node's pending extend with `value` (1: extended, 0: our key is gone).
  void answer_extend(long long value) {
    for (auto& n : nodes) {
      ASSERT_TRUE(n->has_pending());
      ASSERT_EQ(args_of(n->pending().wire)[1], detail::extend_script.sha1);
      n->answer_int(value);
    }
    timers.run_deferred();
  }
  // Moves the clock in 1 ms steps, so timers run when due (the fake runs them at the end of
  // each advance).
  void advance_ms(int ms) {
    for (int i = 0; i < ms; ++i)
      timers.advance(milliseconds(1));
  }

  // Answers every node's pending ownership check with `ttl_ms` (-2: not our key).
  void answer_check(long long ttl_ms) {
    for (auto& n : nodes)
      n->answer_int(ttl_ms);
    timers.run_deferred();
  }
  std::uint64_t lost_count(lease_lost::cause why) const {
    return keep->counters().lost[detail::slot_of(lease_lost_causes, why)];
  }

  std::unique_ptr<detail::keeper> keep;
  std::vector<lease_lost> signals;
};

// valid_until = grant + 1000 - (10 + 2) ms of drift; the margin is 100 ms before it.
TEST_F(KeeperTest, LostIsDeclaredAtTheMarginBeforeValidUntilAndOnlyOnce) {
  make_keeper(3);
  auto lock = hold();
  auto valid_until = lock->valid_until();
  advance_ms(887);
  EXPECT_FALSE(lock->lost(clock.now()));
  EXPECT_TRUE(signals.empty());
  advance_ms(1);
  EXPECT_TRUE(lock->lost(clock.now()));
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::margin_reached);
  EXPECT_LT(signals[0].at, valid_until);
  EXPECT_EQ(valid_until - signals[0].at, milliseconds(100));
  EXPECT_THAT(signals[0].message, HasSubstr("safety margin (100 ms"));
  ASSERT_TRUE(lock->lost_reason());
  EXPECT_EQ(lock->lost_reason()->why, lease_lost::cause::margin_reached);
  advance_ms(2000);
  EXPECT_EQ(signals.size(), 1u);
}

TEST_F(KeeperTest, AutoExtensionKeepsTheLeaseAliveForFiveTtls) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  for (int i = 0; i < 10; ++i) {
    // Half of the validity after the last success (988 ms): the extension goes out.
    advance_ms(493);
    EXPECT_FALSE(nodes[0]->has_pending()) << "extension " << i;
    advance_ms(1);
    ASSERT_NO_FATAL_FAILURE(answer_extend(1));
    EXPECT_GT(lock->valid_until() - clock.now(), milliseconds(980));
  }
  EXPECT_TRUE(signals.empty());
  EXPECT_FALSE(lock->lost(clock.now()));
}

TEST_F(KeeperTest, RefusedExtensionIsLostAtOnceAndEndsTheExtensions) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  advance_ms(494);
  for (auto& n : nodes)
    n->answer_int(0);  // our token is gone everywhere
  EXPECT_TRUE(lock->lost(clock.now()));
  EXPECT_TRUE(signals.empty());  // deferred: never inside the answer
  timers.run_deferred();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::refused);
  EXPECT_EQ(signals[0].votes.refused(), 2u);  // the majority that decided it
  advance_ms(3000);
  EXPECT_EQ(signals.size(), 1u);
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
}

// No majority extends (a partition): tried again every retry_delay, until the margin.
TEST_F(KeeperTest, FailedExtensionsAreRetriedUntilTheMarginDeclaresItLost) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  advance_ms(494);
  int rounds = 0;
  while (signals.empty() && rounds < 100) {
    if (nodes[0]->has_pending()) {
      ++rounds;
      for (auto& n : nodes)
        n->fail(errc::node_down, "connection refused", false);
    }
    advance_ms(1);
  }
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::margin_reached);
  EXPECT_THAT(signals[0].message, HasSubstr("the last extend: extend of 'job': no majority"));
  EXPECT_LT(signals[0].at, lock->valid_until());
  // From 494 ms to the margin at 888 ms, one round every 50 ms.
  EXPECT_GE(rounds, 7);
  EXPECT_LE(rounds, 9);
}

TEST_F(KeeperTest, MaxHoldStopsTheExtensionsAndSaysSo) {
  make_keeper(3);
  acquire_options o = auto_extended();
  o.auto_extend.max_hold = milliseconds(1200);
  auto start = clock.now();
  auto lock = hold(o);
  advance_ms(494);
  // The extension asks only for what is left of max_hold.
  ASSERT_TRUE(nodes[0]->has_pending());
  EXPECT_EQ(args_of(nodes[0]->pending().wire)[5], "706");
  ASSERT_NO_FATAL_FAILURE(answer_extend(1));
  // That was the last one: a later extension could only ask for less (before the fix, the end
  // of max_hold saw a round every few milliseconds).
  int later_rounds = 0;
  for (int ms = 0; ms < 2000 && signals.empty(); ++ms) {
    if (nodes[0]->has_pending()) {
      ++later_rounds;
      ASSERT_NO_FATAL_FAILURE(answer_extend(1));
    }
    advance_ms(1);
  }
  EXPECT_EQ(later_rounds, 0);
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::max_hold_reached);
  EXPECT_LE(signals[0].at, clock.now());
  EXPECT_LT(lock->valid_until(), start + milliseconds(1200));
  EXPECT_THAT(signals[0].message, HasSubstr("max_hold (1200 ms)"));
}

TEST_F(KeeperTest, AReleasedLeaseIsNeverSignalled) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  keep->released(*lock);
  eng->release(lock, nullptr);
  for (auto& n : nodes)
    n->answer_int(1);
  advance_ms(3000);
  EXPECT_TRUE(signals.empty());
  EXPECT_EQ(keep->held(), 0u);
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
}

// A caller's own extend counts: a success moves the margin later, a refusal is lost.
TEST_F(KeeperTest, TheCallersExtendsMoveTheMarginOrLoseTheLease) {
  make_keeper(3);
  auto lock = hold();
  advance_ms(800);
  outcome_of<void> extended;
  keep->extend(lock, milliseconds(1000), extended.callback());
  ASSERT_NO_FATAL_FAILURE(answer_extend(1));
  ASSERT_TRUE(extended.ready() && *extended);
  advance_ms(800);  // past the first margin (888 ms), before the new one (1688 ms)
  EXPECT_TRUE(signals.empty());
  outcome_of<void> refused;
  keep->extend(lock, milliseconds(1000), refused.callback());
  ASSERT_NO_FATAL_FAILURE(answer_extend(0));
  ASSERT_TRUE(refused.ready());
  EXPECT_EQ(refused->error(), errc::lock_lost);
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::refused);
}

// The ownership check: a majority holding our token gives the smallest ttl among them and may
// shorten validity; a majority without it loses the lease.
TEST_F(KeeperTest, OwnershipCheckShortensValidityOrLosesTheLease) {
  make_keeper(3);
  auto lock = hold();
  auto before = lock->valid_until();
  std::optional<result<ownership>> seen;
  keep->check(lock, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  ASSERT_EQ(args_of(nodes[0]->pending().wire)[1], detail::check_script.sha1);
  nodes[0]->answer_int(990);
  nodes[1]->answer_int(400);  // someone shortened it here
  ASSERT_TRUE(seen && *seen) << (seen ? seen->message() : "");
  EXPECT_EQ((*seen)->min_ttl, milliseconds(400));
  EXPECT_LT(lock->valid_until(), before);
  EXPECT_EQ((*seen)->valid_until, lock->valid_until());
  nodes[2]->answer_int(990);
  // The margin follows: 400 - (4 + 2) drift - 100 margin from the check's start.
  advance_ms(293);
  EXPECT_TRUE(signals.empty());
  advance_ms(1);
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::margin_reached);

  auto other = hold();
  seen.reset();
  keep->check(other, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  nodes[0]->answer_int(-2);  // not ours
  nodes[1]->answer_int(-2);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->error(), errc::lock_lost);
  EXPECT_TRUE(other->lost(clock.now()));
  timers.run_deferred();
  ASSERT_EQ(signals.size(), 2u);
  EXPECT_EQ(signals[1].why, lease_lost::cause::refused);
}

// An extend whose success is decided after the clock passed the margin (the loop read the
// reply before its timers ran) must not make lost() false again, nor move valid_until.
TEST_F(KeeperTest, ASuccessDecidedPastTheMarginKeepsTheLeaseLost) {
  make_keeper(3);
  auto lock = hold();
  advance_ms(880);
  outcome_of<void> extended;
  keep->extend(lock, milliseconds(1000), extended.callback());
  clock.advance(milliseconds(20));  // past the margin (888 ms), no timer run yet
  ASSERT_TRUE(lock->lost(clock.now()));
  auto before = lock->valid_until();
  ASSERT_NO_FATAL_FAILURE(answer_extend(1));
  ASSERT_TRUE(extended.ready());
  EXPECT_EQ(extended->error(), errc::lock_lost) << extended->message();
  EXPECT_TRUE(lock->lost(clock.now()));
  EXPECT_LE(lock->valid_until(), before);
  advance_ms(1);
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::margin_reached);
  // Declared lost: a later extend is refused at once, whatever the nodes would say.
  outcome_of<void> again;
  keep->extend(lock, milliseconds(1000), again.callback());
  timers.run_deferred();
  ASSERT_TRUE(again.ready());
  EXPECT_EQ(again->error(), errc::lock_lost);
  EXPECT_FALSE(nodes[0]->has_pending());
}

// The signal is deferred; a release that comes in between wins.
TEST_F(KeeperTest, OnLostNeverRunsForALeaseReleasedBeforeIt) {
  make_keeper(3);
  auto lock = hold();
  keep->extend(lock, milliseconds(1000), nullptr);
  for (auto& n : nodes)
    n->answer_int(0);  // refused: lost, the signal deferred
  keep->released(*lock);
  eng->release(lock, nullptr);
  timers.run_deferred();
  EXPECT_TRUE(signals.empty());
}

// A slow grant leaves less validity than the ttl: the first extension still starts before the
// margin (with a node_timeout to spare), never after it.
TEST_F(KeeperTest, TheExtensionStartsBeforeTheMarginAfterASlowGrant) {
  make_keeper(3);
  acquire_options o = auto_extended();
  o.ttl = milliseconds(1000);
  o.auto_extend.extend_at = 0.85;
  o.on_lost = [this](const lease_lost& l) { signals.push_back(l); };
  acquire("job", o);
  clock.advance(milliseconds(400));  // the round took 400 ms
  for (auto& n : nodes)
    n->answer_ok();
  auto lock = outcome->value();
  keep->watch(lock, o);
  int extensions = 0;
  for (int ms = 0; ms < 3000 && signals.empty(); ++ms) {
    if (nodes[0]->has_pending()) {
      ++extensions;
      ASSERT_NO_FATAL_FAILURE(answer_extend(1));
    }
    advance_ms(1);
  }
  EXPECT_GE(extensions, 3);
  EXPECT_TRUE(signals.empty());
}

TEST_F(KeeperTest, ClosingDeclaresEveryHeldLeaseLost) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  auto held = keep->close();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0], lock);
  EXPECT_TRUE(lock->lost(clock.now()));
  timers.run_deferred();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].why, lease_lost::cause::client_closed);
}

// The counters behind client_metrics: extends by who asked, leases lost by cause, once.
TEST_F(KeeperTest, ExtendsAreCountedByWhoAskedAndHowTheyEnded) {
  make_keeper(3);
  auto lock = hold(auto_extended());
  advance_ms(494);  // half the validity: the automatic extension goes out
  ASSERT_NO_FATAL_FAILURE(answer_extend(1));
  outcome_of<void> asked;
  keep->extend(lock, milliseconds(1000), asked.callback());
  for (auto& n : nodes)
    n->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(asked.ready());
  EXPECT_EQ(asked->error(), errc::no_quorum);
  keep->extend(lock, milliseconds(1000), nullptr);
  ASSERT_NO_FATAL_FAILURE(answer_extend(1));

  const auto& c = keep->counters();
  EXPECT_EQ(c.auto_extends.succeeded, 1u);
  EXPECT_EQ(c.auto_extends.failed, 0u);
  EXPECT_EQ(c.caller_extends.succeeded, 1u);
  EXPECT_EQ(c.caller_extends.failed, 1u);
  for (lease_lost::cause why : lease_lost_causes)
    EXPECT_EQ(lost_count(why), 0u) << to_string(why);
}

TEST_F(KeeperTest, EachLostLeaseIsCountedOnceUnderItsCause) {
  make_keeper(3);
  auto refused = hold({});
  keep->extend(refused, milliseconds(1000), nullptr);
  ASSERT_NO_FATAL_FAILURE(answer_extend(0));           // our token is gone everywhere
  keep->extend(refused, milliseconds(1000), nullptr);  // lost already: fails again, no new loss
  timers.run_deferred();
  EXPECT_EQ(lost_count(lease_lost::cause::refused), 1u);
  EXPECT_EQ(keep->counters().caller_extends.failed, 2u);

  auto checked = hold({});
  std::optional<result<ownership>> seen;
  keep->check(checked, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  answer_check(900);
  ASSERT_TRUE(seen && *seen) << (seen ? seen->message() : "");
  seen.reset();
  keep->check(checked, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  answer_check(-2);  // deleted by hand
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->error(), errc::lock_lost);
  EXPECT_EQ(lost_count(lease_lost::cause::refused), 2u);
  EXPECT_EQ(keep->counters().ownership_checks.succeeded, 1u);
  EXPECT_EQ(keep->counters().ownership_checks.failed, 1u);

  hold({});
  advance_ms(1000);  // past its margin, never extended
  EXPECT_EQ(lost_count(lease_lost::cause::margin_reached), 1u);

  acquire_options capped = auto_extended();
  capped.auto_extend.max_hold = milliseconds(600);
  hold(capped);
  for (int ms = 0; ms < 2000 && lost_count(lease_lost::cause::max_hold_reached) == 0; ++ms) {
    if (nodes[0]->has_pending()) {
      ASSERT_NO_FATAL_FAILURE(answer_extend(1));
    }
    advance_ms(1);
  }
  EXPECT_EQ(lost_count(lease_lost::cause::max_hold_reached), 1u);

  hold({});
  keep->close();
  timers.run_deferred();
  // Only the lease still held is lost by the close; the others were lost already.
  EXPECT_EQ(lost_count(lease_lost::cause::client_closed), 1u);
  EXPECT_EQ(lost_count(lease_lost::cause::refused), 2u);
  EXPECT_EQ(lost_count(lease_lost::cause::margin_reached), 1u);
  EXPECT_EQ(lost_count(lease_lost::cause::max_hold_reached), 1u);
}

}  // namespace
}  // namespace redlock::testing
