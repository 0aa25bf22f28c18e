// client::metrics() and async_client::metrics() on real servers: a known sequence (a grant, a
// refusal of a busy lock after three attempts, an extend, the keys deleted by hand so the lease
// is lost) gives exact counts, and prometheus_text renders them with each node's health under
// an endpoint label that carries no password.
#include <gmock/gmock.h>

#include <algorithm>
#include <optional>
#include <string>

#include "async_fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string password = "s3cret-metrics";

class MetricsTest : public async_fleet_test {
 protected:
  // Three nodes that want a password; the client's endpoints carry it.
  client_options start_guarded_fleet() {
    node_options n;
    n.requirepass = password;
    start_fleet(3, n);
    fleet->set_auth("", password);
    client_options o = options_for(*fleet);
    for (std::size_t i = 0; i < fleet->size(); ++i)
      o.endpoints[i] = "redis://:" + password + "@127.0.0.1:" + std::to_string(fleet->port(i));
    return o;
  }
  void delete_keys_by_hand(const std::string& resource) {
    for (std::size_t i = 0; i < fleet->size(); ++i)
      fleet->command(i, {"DEL", "redlock:" + resource});
  }
  // Three attempts on a lock held elsewhere: the budget is long enough that max_attempts ends
  // it, so the count is exact.
  static acquire_options busy_wait() {
    acquire_options o;
    o.wait = milliseconds(20000);
    o.max_attempts = 3;
    return o;
  }

  // What the sequence leaves, on either client: 2 acquires (1 granted, 1 held_elsewhere
  // after 3 attempts), 1 caller extend succeeded and 1 failed (lock_lost), the lease lost as
  // refused, nothing automatic; `checks`, the ownership checks.
  void expect_sequence_counted(const client_metrics& m, const outcome_counts& checks) {
    EXPECT_EQ(m.acquires, 2u);
    EXPECT_EQ(m.granted, 1u);
    EXPECT_EQ(m.attempts, 4u);
    for (std::size_t i = 0; i < acquire_failure_codes.size(); ++i) {
      EXPECT_EQ(m.acquires_failed[i], acquire_failure_codes[i] == errc::held_elsewhere ? 1u : 0u)
          << to_string(acquire_failure_codes[i]);
    }
    EXPECT_EQ(m.granted_wait.count, 1u);
    EXPECT_EQ(m.failed_wait.count, 1u);
    // Two pauses between the three attempts: one at least retry_delay (50 ms); the other may
    // be short (the subscription's confirmation wakes the waiter, see waiting_test.cpp).
    EXPECT_GE(m.failed_wait.sum, milliseconds(50));
    EXPECT_EQ(m.failed_wait.p50, m.failed_wait.sum);
    EXPECT_EQ(m.leases_held, 1u);  // lost, not yet released
    for (std::size_t i = 0; i < lease_lost_causes.size(); ++i) {
      EXPECT_EQ(m.leases_lost[i], lease_lost_causes[i] == lease_lost::cause::refused ? 1u : 0u)
          << to_string(lease_lost_causes[i]);
    }
    EXPECT_EQ(m.caller_extends.succeeded, 1u);
    EXPECT_EQ(m.caller_extends.failed, 1u);
    EXPECT_EQ(m.auto_extends.succeeded + m.auto_extends.failed, 0u);
    EXPECT_EQ(m.ownership_checks.succeeded, checks.succeeded);
    EXPECT_EQ(m.ownership_checks.failed, checks.failed);
  }
  void expect_rendered(const std::string& text, const std::vector<node_health>& nodes) {
    EXPECT_THAT(text, HasSubstr("\nredlock_acquires_total 2\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_acquire_grants_total 1\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_acquire_attempts_total 4\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_acquire_failures_total{code=\"held_elsewhere\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_acquire_failures_total{code=\"no_quorum\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_acquire_wait_seconds_count{outcome=\"failed\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("\nredlock_leases_lost_total{cause=\"refused\"} 1\n"));
    EXPECT_THAT(text,
                HasSubstr("\nredlock_extends_total{by=\"caller\",outcome=\"succeeded\"} 1\n"));
    EXPECT_THAT(text, Not(HasSubstr(password)));
    ASSERT_EQ(nodes.size(), fleet->size());
    for (std::size_t i = 0; i < fleet->size(); ++i) {
      std::string endpoint = "redis://:***@127.0.0.1:" + std::to_string(fleet->port(i));
      EXPECT_EQ(nodes[i].endpoint, endpoint);
      EXPECT_THAT(text, HasSubstr("\nredlock_node_state{endpoint=\"" + endpoint +
                                  "\",state=\"connected\"} 1\n"));
      EXPECT_THAT(text, HasSubstr("\nredlock_node_requests_total{endpoint=\"" + endpoint + "\"} " +
                                  std::to_string(nodes[i].requests) + "\n"));
      EXPECT_GT(nodes[i].requests, 0u);
    }
  }
};

TEST_F(MetricsTest, BlockingClientCountsAKnownSequenceExactly) {
  client locks = make_client(start_guarded_fleet());
  result<lease> held = locks.acquire("job", ttl_of(milliseconds(10000)));
  ASSERT_TRUE(held) << held.message();
  result<lease> refused = locks.acquire("job", busy_wait());
  ASSERT_EQ(refused.error(), errc::held_elsewhere) << refused.message();
  EXPECT_EQ(refused.tally().attempts(), 3);
  ASSERT_TRUE(held->extend(milliseconds(10000)));
  delete_keys_by_hand("job");
  result<ownership> gone = held->check_ownership();
  ASSERT_EQ(gone.error(), errc::lock_lost) << gone.message();
  ASSERT_EQ(held->extend(milliseconds(10000)).error(), errc::lock_lost);
  wait_all_connected(locks);

  result<client_metrics> m = locks.metrics();
  ASSERT_TRUE(m) << m.message();
  expect_sequence_counted(*m, {0, 1});
  result<std::vector<node_health>> nodes = locks.health();
  ASSERT_TRUE(nodes) << nodes.message();
  expect_rendered(prometheus_text(*m, *nodes), *nodes);

  ASSERT_TRUE(held->release());
  m = locks.metrics();
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(m->leases_held, 0u);
}

TEST_F(MetricsTest, AsyncClientCountsAKnownSequenceExactly) {
  async_client locks = make_async(start_guarded_fleet());
  ASSERT_NO_FATAL_FAILURE(run_until_ready(locks));
  std::optional<result<lease>> held;
  ASSERT_TRUE(locks.acquire("job", ttl_of(milliseconds(10000)),
                            [&](result<lease> r) { held.emplace(std::move(r)); }));
  run_until([&] { return held.has_value(); });
  ASSERT_TRUE(*held) << held->message();
  std::optional<result<lease>> refused;
  ASSERT_TRUE(
      locks.acquire("job", busy_wait(), [&](result<lease> r) { refused.emplace(std::move(r)); }));
  run_until([&] { return refused.has_value(); });
  ASSERT_EQ(refused->error(), errc::held_elsewhere) << refused->message();
  std::optional<result<void>> extended;
  ASSERT_TRUE(locks.extend(**held, milliseconds(10000),
                           [&](result<void> r) { extended.emplace(std::move(r)); }));
  run_until([&] { return extended.has_value(); });
  ASSERT_TRUE(*extended) << extended->message();
  delete_keys_by_hand("job");
  // Here the extension finds the keys gone (the blocking test uses the ownership check).
  extended.reset();
  ASSERT_TRUE(locks.extend(**held, milliseconds(10000),
                           [&](result<void> r) { extended.emplace(std::move(r)); }));
  run_until([&] { return extended.has_value(); });
  ASSERT_EQ(extended->error(), errc::lock_lost) << extended->message();
  run_until([&] {
    auto h = locks.health();
    return h && std::all_of(h->begin(), h->end(),
                            [](const node_health& n) { return n.state == node_state::connected; });
  });

  result<client_metrics> m = locks.metrics();
  ASSERT_TRUE(m) << m.message();
  expect_sequence_counted(*m, {0, 0});
  result<std::vector<node_health>> nodes = locks.health();
  ASSERT_TRUE(nodes) << nodes.message();
  expect_rendered(prometheus_text(*m, *nodes), *nodes);

  std::optional<result<void>> released;
  ASSERT_TRUE(
      locks.release(std::move(**held), [&](result<void> r) { released.emplace(std::move(r)); }));
  run_until([&] { return released.has_value(); });
  m = locks.metrics();
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(m->leases_held, 0u);
}

TEST_F(MetricsTest, MovedFromClientsRefuseMetrics) {
  start_fleet(1);
  client locks = make_client();
  client moved = std::move(locks);
  EXPECT_EQ(locks.metrics().error(), errc::client_closed);  // NOLINT(bugprone-use-after-move)
  async_client async_locks = make_async(options_for(*fleet));
  async_client async_moved = std::move(async_locks);
  EXPECT_EQ(async_locks.metrics().error(),  // NOLINT(bugprone-use-after-move)
            errc::client_closed);
}

}  // namespace
}  // namespace redlock::testing
