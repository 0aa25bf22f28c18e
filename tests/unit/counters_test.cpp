// The counters behind client_metrics on the engine's fakes: the engine counts acquires,
// attempts, each outcome under its own code and the time to it; the keeper counts leases lost
// by cause, extends (the caller's and automatic ones apart) and ownership checks.
#include "counters.hpp"

#include "engine_fixture.hpp"
#include "keeper.hpp"

namespace redlock::testing {
namespace {

std::size_t index_of(errc code) {
  for (std::size_t i = 0; i < acquire_failure_codes.size(); ++i) {
    if (acquire_failure_codes[i] == code) return i;
  }
  ADD_FAILURE() << to_string(code) << " is not in acquire_failure_codes";
  return 0;
}

class CountersTest : public EngineTest {
 protected:
  const detail::acquire_counters& counted() const { return eng->counters(); }
  // Every failure count is zero but `code`'s, which is `count`.
  void expect_only_failure(errc code, std::uint64_t count) {
    for (std::size_t i = 0; i < acquire_failure_codes.size(); ++i) {
      EXPECT_EQ(counted().failed[i], acquire_failure_codes[i] == code ? count : 0u)
          << to_string(acquire_failure_codes[i]);
    }
  }
};

TEST_F(CountersTest, AGrantCountsOneAttemptAndTheTimeFromTheCall) {
  make(3);
  acquire("job");
  EXPECT_EQ(counted().started, 1u);
  EXPECT_EQ(counted().attempts, 1u);
  EXPECT_EQ(counted().granted, 0u);  // not yet decided
  clock.advance(milliseconds(3));
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  EXPECT_EQ(counted().granted, 1u);
  expect_only_failure(errc{}, 0);
  duration_summary wait = counted().granted_wait.summary();
  EXPECT_EQ(wait.count, 1u);
  EXPECT_EQ(wait.sum, std::chrono::microseconds(3000));
  EXPECT_EQ(wait.p50, std::chrono::microseconds(3000));
  EXPECT_EQ(wait.p99, std::chrono::microseconds(3000));
  EXPECT_EQ(counted().failed_wait.summary().count, 0u);
}

// A busy lock with a wait budget: every retry is an attempt; the acquire fails once.
TEST_F(CountersTest, ABusyLockCountsEveryAttemptAndOneFailure) {
  make(3);
  acquire_options o;
  o.wait = milliseconds(10000);
  o.max_attempts = 3;
  auto start = clock.now();
  acquire("job", o);
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(nodes[0]->has_pending()) << "attempt " << attempt;
    for (auto& n : nodes)
      n->answer_nil();
    for (int ms = 0; ms < 200 && !nodes[0]->has_pending() && !outcome; ++ms)
      timers.advance(milliseconds(1));
  }
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_EQ(counted().started, 1u);
  EXPECT_EQ(counted().attempts, 3u);
  EXPECT_EQ(counted().granted, 0u);
  expect_only_failure(errc::held_elsewhere, 1);
  duration_summary wait = counted().failed_wait.summary();
  EXPECT_EQ(wait.count, 1u);
  EXPECT_EQ(wait.sum, std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start));
  EXPECT_GE(wait.sum, std::chrono::microseconds(2 * 50'000));  // two retry delays at least
}

// Each way an acquire can end is counted under its own code.
TEST_F(CountersTest, EveryFailureIsCountedUnderItsCode) {
  make(3);
  acquire("no-quorum");
  nodes[0]->fail(errc::node_down, "Connection refused", false);
  nodes[1]->fail(errc::node_down, "Connection refused", false);
  ASSERT_EQ(outcome->error(), errc::no_quorum);
  nodes[2]->answer_nil();

  acquire("misconfigured");
  nodes[0]->fail(errc::config_refused, "WRONGPASS", false);
  nodes[1]->fail(errc::config_refused, "WRONGPASS", false);
  ASSERT_EQ(outcome->error(), errc::misconfigured);
  nodes[2]->answer_nil();

  acquire("overloaded");
  nodes[0]->fail(errc::overloaded, "no room in the window", false);
  nodes[1]->fail(errc::overloaded, "no room in the window", false);
  ASSERT_EQ(outcome->error(), errc::overloaded);
  nodes[2]->answer_nil();

  acquire_options short_ttl;
  short_ttl.ttl = milliseconds(100);
  acquire("validity-spent", short_ttl);
  clock.advance(milliseconds(100));
  for (auto& n : nodes)
    n->answer_ok();
  ASSERT_EQ(outcome->error(), errc::validity_spent);
  timers.run_deferred();
  for (auto& n : nodes) {
    while (n->has_pending())
      n->answer_int(1);  // the clean-ups
  }

  outcome.reset();
  std::uint64_t id = eng->acquire("cancelled", {}, [this](result<std::shared_ptr<lock_record>> r) {
    outcome.emplace(std::move(r));
  });
  eng->cancel(id);
  ASSERT_EQ(outcome->error(), errc::cancelled);
  for (auto& n : nodes)
    n->answer_nil();

  acquire_options waiting;
  waiting.wait = milliseconds(10000);
  acquire("closed", waiting);
  for (auto& n : nodes)
    n->answer_nil();
  eng->shutdown();  // while it waits for its next attempt
  timers.run_deferred();
  ASSERT_EQ(outcome->error(), errc::client_closed);

  EXPECT_EQ(counted().started, 6u);
  EXPECT_EQ(counted().attempts, 6u);
  EXPECT_EQ(counted().granted, 0u);
  for (errc code : {errc::no_quorum, errc::misconfigured, errc::overloaded, errc::validity_spent,
                    errc::cancelled, errc::client_closed}) {
    EXPECT_EQ(counted().failed[index_of(code)], 1u) << to_string(code);
  }
  EXPECT_EQ(counted().failed[index_of(errc::held_elsewhere)], 0u);
  EXPECT_EQ(counted().failed_wait.summary().count, 6u);
}

class LeaseCountersTest : public EngineTest {
 protected:
  void make_keeper(std::size_t n) {
    make(n);
    keep = std::make_unique<detail::keeper>(
        *eng, timers, clock, detail::keeper::config{milliseconds(50), milliseconds(50)});
  }
  std::shared_ptr<lock_record> hold(acquire_options o) {
    o.ttl = milliseconds(1000);
    acquire("job", o);
    for (auto& n : nodes)
      n->answer_ok();
    EXPECT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "no outcome");
    auto lock = outcome->value();
    keep->watch(lock, o);
    return lock;
  }
  void answer_all(long long value) {
    for (auto& n : nodes) {
      ASSERT_TRUE(n->has_pending());
      n->answer_int(value);
    }
    timers.run_deferred();
  }
  void advance_ms(int ms) {
    for (int i = 0; i < ms; ++i)
      timers.advance(milliseconds(1));
  }
  std::uint64_t lost(lease_lost::cause why) const {
    const auto& c = keep->counters();
    for (std::size_t i = 0; i < lease_lost_causes.size(); ++i) {
      if (lease_lost_causes[i] == why) return c.lost[i];
    }
    return 0;
  }

  std::unique_ptr<detail::keeper> keep;
};

TEST_F(LeaseCountersTest, ExtendsAreCountedByWhoAskedAndHowTheyEnded) {
  make_keeper(3);
  acquire_options automatic;
  automatic.auto_extend.enabled = true;
  auto lock = hold(automatic);
  advance_ms(494);  // half the validity: the automatic extension goes out
  ASSERT_NO_FATAL_FAILURE(answer_all(1));
  outcome_of<void> asked;
  keep->extend(lock, milliseconds(1000), asked.callback());
  for (auto& n : nodes)
    n->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(asked.ready());
  EXPECT_EQ(asked->error(), errc::no_quorum);
  keep->extend(lock, milliseconds(1000), nullptr);
  ASSERT_NO_FATAL_FAILURE(answer_all(1));

  const auto& c = keep->counters();
  EXPECT_EQ(c.auto_extends.succeeded, 1u);
  EXPECT_EQ(c.auto_extends.failed, 0u);
  EXPECT_EQ(c.caller_extends.succeeded, 1u);
  EXPECT_EQ(c.caller_extends.failed, 1u);
  for (lease_lost::cause why : lease_lost_causes)
    EXPECT_EQ(lost(why), 0u) << to_string(why);
}

TEST_F(LeaseCountersTest, EachLostLeaseIsCountedOnceUnderItsCause) {
  make_keeper(3);
  auto refused = hold({});
  keep->extend(refused, milliseconds(1000), nullptr);
  ASSERT_NO_FATAL_FAILURE(answer_all(0));              // our token is gone everywhere
  keep->extend(refused, milliseconds(1000), nullptr);  // lost already: fails again, no new loss
  timers.run_deferred();
  EXPECT_EQ(lost(lease_lost::cause::refused), 1u);
  EXPECT_EQ(keep->counters().caller_extends.failed, 2u);

  auto checked = hold({});
  std::optional<result<ownership>> seen;
  keep->check(checked, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  ASSERT_NO_FATAL_FAILURE(answer_all(900));
  ASSERT_TRUE(seen && *seen) << (seen ? seen->message() : "");
  seen.reset();
  keep->check(checked, [&](result<ownership> r) { seen.emplace(std::move(r)); });
  ASSERT_NO_FATAL_FAILURE(answer_all(-2));  // deleted by hand
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->error(), errc::lock_lost);
  EXPECT_EQ(lost(lease_lost::cause::refused), 2u);
  EXPECT_EQ(keep->counters().ownership_checks.succeeded, 1u);
  EXPECT_EQ(keep->counters().ownership_checks.failed, 1u);

  hold({});
  advance_ms(1000);  // past its margin, never extended
  EXPECT_EQ(lost(lease_lost::cause::margin_reached), 1u);

  acquire_options capped;
  capped.auto_extend.enabled = true;
  capped.auto_extend.max_hold = milliseconds(600);
  hold(capped);
  for (int ms = 0; ms < 2000 && lost(lease_lost::cause::max_hold_reached) == 0; ++ms) {
    if (nodes[0]->has_pending()) {
      ASSERT_NO_FATAL_FAILURE(answer_all(1));
    }
    advance_ms(1);
  }
  EXPECT_EQ(lost(lease_lost::cause::max_hold_reached), 1u);

  hold({});
  keep->close();
  timers.run_deferred();
  // Only the lease still held is lost by the close; the others were lost already.
  EXPECT_EQ(lost(lease_lost::cause::client_closed), 1u);
  EXPECT_EQ(lost(lease_lost::cause::refused), 2u);
  EXPECT_EQ(lost(lease_lost::cause::margin_reached), 1u);
  EXPECT_EQ(lost(lease_lost::cause::max_hold_reached), 1u);
}

}  // namespace
}  // namespace redlock::testing
