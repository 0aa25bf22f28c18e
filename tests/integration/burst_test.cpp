// Bursts far beyond what the nodes can take at once, on an async client: overload degrades,
// never collapses. Heavy (a ctest RESOURCE_LOCK keeps them apart from each other).
#include <gmock/gmock.h>
#include <uv.h>

#include <iostream>
#include <set>

#include "async_fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;

class BurstTest : public async_fleet_test {};

// Overload degrades, never collapses: 50,000 acquires at once on five healthy nodes with the
// default options. Every one is granted, or refused with the retryable overload error (no
// wait budget, and no room among the requests in flight: they never left), and no key of a
// failed acquire is left behind.
TEST_F(BurstTest, BurstOfFiftyThousandAcquiresIsGrantedOrOverloaded) {
  start_fleet(5);
  client_options o;
  o.endpoints = fleet->urls();
  o.quarantine.enabled = false;  // the servers just started (fixture.hpp, options_for)
  async_client locks = make_async(o);
  ASSERT_NO_FATAL_FAILURE(run_until_ready(locks));

  constexpr int burst = 50000;
  std::vector<lease> granted;
  int overloaded = 0, other = 0, done = 0;
  std::string first_other;
  // A ttl long enough that a sanitizer build, which takes seconds just to queue the burst,
  // does not spend the validity of the first grants before their round is decided.
  acquire_options once;
  once.ttl = milliseconds(600000);
  for (int i = 0; i < burst; ++i) {
    ASSERT_TRUE(locks.acquire("burst:" + std::to_string(i), once, [&](result<lease> r) {
      ++done;
      if (r) {
        granted.push_back(std::move(*r));
      } else if (r.error() == errc::overloaded) {
        ++overloaded;
      } else if (other++ == 0) {
        first_other = r.message();
      }
    }));
  }
  run_until([&] { return done == burst; }, std::chrono::minutes(5));
  ASSERT_EQ(done, burst);
  EXPECT_EQ(other, 0) << first_other;
  EXPECT_GT(granted.size(), 0u);
  std::cout << "[ burst    ] " << granted.size() << " granted, " << overloaded << " overloaded of "
            << burst << "\n";
  // No key of a failed acquire is left on any node, once their clean-ups have run: every key
  // still there belongs to a granted lease. A node too slow for the node timeout is owed its
  // releases, paid after it reconnects: background work, which runs while the service's loop
  // does.
  keep_loop_running();
  std::set<std::string> granted_keys;
  for (const lease& l : granted)
    granted_keys.insert("redlock:" + l.resource());
  auto only_granted_left = [&] {
    for (int k = 0; k < 20; ++k)
      uv_run(&loop, UV_RUN_NOWAIT);
    for (std::size_t n = 0; n < 5; ++n) {
      for (const std::string& key : fleet->keys(n, "redlock:burst:*"))
        if (granted_keys.count(key) == 0) return false;
    }
    return true;
  };
  EXPECT_TRUE(eventually(only_granted_left, milliseconds(30000)));
  granted.clear();  // releases them all
  auto none_left = [&] {
    for (int k = 0; k < 20; ++k)
      uv_run(&loop, UV_RUN_NOWAIT);
    for (std::size_t n = 0; n < 5; ++n)
      if (!fleet->keys(n, "redlock:burst:*").empty()) return false;
    return true;
  };
  bool clean = eventually(none_left, milliseconds(60000));
  if (!clean) {
    for (std::size_t n = 0; n < 5; ++n)
      std::cout << "node " << n << ": " << fleet->keys(n, "redlock:burst:*").size() << " keys\n";
    auto h = locks.health();
    for (const node_health& n : *h)
      std::cout << n.endpoint << " state " << static_cast<int>(n.state) << " requests "
                << n.requests << " failures " << n.failures << " reconnects " << n.reconnects
                << " owed " << n.owed_releases << " dropped " << n.dropped_releases << " "
                << n.last_error << "\n";
  }
  EXPECT_TRUE(clean);
}

// With a wait budget, a burst waits its turn for room in the window instead of failing.
TEST_F(BurstTest, BurstWithAWaitBudgetWaitsForRoomAndIsGranted) {
  start_fleet(3);
  client_options o = options_for(*fleet);
  async_client locks = make_async(o);
  ASSERT_NO_FATAL_FAILURE(run_until_ready(locks));
  constexpr int burst = 10000;
  acquire_options patient;
  patient.wait = milliseconds(120000);
  patient.ttl = milliseconds(600000);
  std::vector<lease> granted;
  int done = 0;
  std::string first_failure;
  for (int i = 0; i < burst; ++i) {
    ASSERT_TRUE(locks.acquire("patient:" + std::to_string(i), patient, [&](result<lease> r) {
      ++done;
      if (r) {
        granted.push_back(std::move(*r));
      } else if (first_failure.empty()) {
        first_failure = r.message();
      }
    }));
  }
  run_until([&] { return done == burst; }, std::chrono::minutes(5));
  ASSERT_EQ(done, burst);
  EXPECT_EQ(granted.size(), static_cast<std::size_t>(burst)) << first_failure;

  // Releasing them all at once: far more than the window, each release waits its turn for
  // as long as its key may live, and none is dropped or left to expire.
  keep_loop_running();
  std::size_t released = 0, failed = 0;
  std::string first_release_failure;
  for (lease& l : granted) {
    ASSERT_TRUE(locks.release(std::move(l), [&](result<void> r) {
      ++released;
      if (!r && failed++ == 0) first_release_failure = r.message();
    }));
  }
  run_until([&] { return released == granted.size(); }, std::chrono::minutes(5));
  EXPECT_EQ(failed, 0u) << first_release_failure;
  // Each release returns at a majority; the slowest node catches up in the background.
  auto none_left = [&] {
    uv_run(&loop, UV_RUN_NOWAIT);
    for (std::size_t n = 0; n < 3; ++n)
      if (!fleet->keys(n, "redlock:patient:*").empty()) return false;
    return true;
  };
  EXPECT_TRUE(eventually(none_left, milliseconds(30000)));
  auto health = locks.health();
  ASSERT_TRUE(health);
  for (const node_health& n : *health)
    EXPECT_EQ(n.dropped_releases, 0u) << n.endpoint;
}

}  // namespace
}  // namespace redlock::testing
