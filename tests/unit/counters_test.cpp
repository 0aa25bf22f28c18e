// The engine's counters behind client_metrics, on its fakes: acquires, attempts, each outcome
// under its own code and the time to it. (keeper_test.cpp counts the leases.)
#include "counters.hpp"

#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

std::size_t index_of(errc code) {
  std::size_t i = detail::slot_of(acquire_failure_codes, code);
  EXPECT_LT(i, acquire_failure_codes.size()) << to_string(code);
  return i < acquire_failure_codes.size() ? i : 0;
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
  std::uint64_t id = eng->acquire(
      {"cancelled"}, {},
      [this](result<std::shared_ptr<lock_record>> r) { outcome.emplace(std::move(r)); });
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
  acquire("after-close");  // started, but never sent
  timers.run_deferred();
  ASSERT_EQ(outcome->error(), errc::client_closed);

  EXPECT_EQ(counted().started, 7u);
  EXPECT_EQ(counted().attempts, 6u);
  EXPECT_EQ(counted().granted, 0u);
  for (errc code : {errc::no_quorum, errc::misconfigured, errc::overloaded, errc::validity_spent,
                    errc::cancelled}) {
    EXPECT_EQ(counted().failed[index_of(code)], 1u) << to_string(code);
  }
  EXPECT_EQ(counted().failed[index_of(errc::client_closed)], 2u);
  EXPECT_EQ(counted().failed[index_of(errc::held_elsewhere)], 0u);
  EXPECT_EQ(counted().failed_wait.summary().count, 7u);
}

}  // namespace
}  // namespace redlock::testing
