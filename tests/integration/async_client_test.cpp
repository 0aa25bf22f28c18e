// The async client on a loop the test owns and runs.
#include <gmock/gmock.h>
#include <uv.h>

#include <optional>

#include "async_fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class AsyncClientTest : public async_fleet_test {};

TEST_F(AsyncClientTest, AcquireExtendReleaseRunEachCallbackOnceOnTheLoop) {
  start_fleet(3);
  std::thread::id loop_thread = std::this_thread::get_id();
  {
    async_client locks = make_async(options_for(*fleet));
    int acquired_calls = 0;
    std::optional<result<lease>> acquired;
    result<void> started = locks.acquire("job", ttl_of(milliseconds(2000)), [&](result<lease> r) {
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      ++acquired_calls;
      acquired.emplace(std::move(r));
    });
    ASSERT_TRUE(started) << started.message();
    EXPECT_EQ(acquired_calls, 0);  // never inside the call
    run_until([&] { return acquired.has_value(); });
    ASSERT_TRUE(*acquired) << acquired->message();
    lease held = std::move(**acquired);

    std::optional<result<void>> extended;
    ASSERT_TRUE(locks.extend(held, milliseconds(20000),
                             [&](result<void> r) { extended.emplace(std::move(r)); }));
    run_until([&] { return extended.has_value(); });
    ASSERT_TRUE(*extended) << extended->message();
    EXPECT_GT(held.remaining(), milliseconds(15000));

    std::optional<result<void>> released;
    ASSERT_TRUE(
        locks.release(std::move(held), [&](result<void> r) { released.emplace(std::move(r)); }));
    EXPECT_FALSE(held);
    run_until([&] { return released.has_value(); });
    ASSERT_TRUE(*released) << released->message();
    EXPECT_GE(released->tally().granted(), 2u);
    EXPECT_EQ(acquired_calls, 1);
  }
  // The release was decided at a majority; the closing client finishes it on every node
  // while the loop runs.
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_THAT(values_of("redlock:job"), ::testing::Each("(nil)"));
}

TEST_F(AsyncClientTest, StartingErrorsNeverRunTheCallback) {
  start_fleet(1);
  async_client locks = make_async(options_for(*fleet));
  bool called = false;
  result<void> bad = locks.acquire("", {}, [&](result<lease>) { called = true; });
  EXPECT_EQ(bad.error(), errc::invalid_option);
  lease empty;
  EXPECT_EQ(locks.extend(empty, milliseconds(1000), [&](result<void>) { called = true; }).error(),
            errc::empty_lease);
  EXPECT_EQ(locks.release(lease(), [&](result<void>) { called = true; }).error(),
            errc::empty_lease);
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_FALSE(called);
}

TEST_F(AsyncClientTest, IdleClientDoesNotKeepTheLoopAlive) {
  start_fleet(1);
  async_client locks = make_async(options_for(*fleet));
  bool done = false;
  ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) {
    EXPECT_TRUE(r) << r.message();
    done = true;
  }));
  // uv_run returns by itself once the acquire (and the lease's release) are finished.
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(done);
}

TEST_F(AsyncClientTest, DestroyingTheClientLetsInFlightWorkFinish) {
  start_fleet(3);
  std::optional<result<lease>> acquired;
  {
    async_client locks = make_async(options_for(*fleet));
    ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) { acquired.emplace(std::move(r)); }));
  }  // destroyed with the acquire in flight
  uv_run(&loop, UV_RUN_DEFAULT);
  // The callback ran; a lock won while the client closed is released, not handed out.
  ASSERT_TRUE(acquired.has_value());
  EXPECT_EQ(acquired->error(), errc::client_closed) << acquired->message();
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

// A lease destroyed right after its client (both on the loop thread, before the loop runs
// again) still releases: the client finishes the releases it is handed while it closes.
TEST_F(AsyncClientTest, LeaseDestroyedJustAfterItsClientStillReleases) {
  start_fleet(3);
  std::optional<result<lease>> acquired;
  {
    async_client locks = make_async(options_for(*fleet));
    ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) { acquired.emplace(std::move(r)); }));
    run_until([&] { return acquired.has_value(); });
    ASSERT_TRUE(*acquired);
  }
  acquired.reset();  // ~lease after ~async_client
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_THAT(values_of("redlock:job"), ::testing::Each("(nil)"));
}

TEST_F(AsyncClientTest, BlockingLeaseCallOnTheLoopThreadIsWouldDeadlock) {
  start_fleet(1);
  async_client locks = make_async(options_for(*fleet));
  std::optional<result<void>> inside;
  ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) {
    ASSERT_TRUE(r);
    inside.emplace(r->extend(milliseconds(5000)));
  }));
  run_until([&] { return inside.has_value(); });
  EXPECT_EQ(inside->error(), errc::would_deadlock);
  EXPECT_THAT(inside->message(), HasSubstr("loop thread"));
}

// A blocking release on the loop thread cannot wait, but still lets the lock go: it empties
// the lease and sends the release in the background.
// A release that timed out on a paused node is owed to it: background work, which does not
// keep uv_run going by itself but is paid once the node is back, while the service's loop
// runs (here a timer of the test's stands for the service's own handles).
TEST_F(AsyncClientTest, ReleaseOwedToAPausedNodeIsPaidWhileTheServicesLoopRuns) {
  start_fleet(3);
  async_client locks = make_async(options_for(*fleet));
  std::optional<result<lease>> acquired;
  ASSERT_TRUE(locks.acquire("owed", ttl_of(milliseconds(600000)),
                            [&](result<lease> r) { acquired.emplace(std::move(r)); }));
  run_until([&] { return acquired.has_value(); });
  ASSERT_TRUE(*acquired) << acquired->message();
  fleet->pause(0);
  std::optional<result<void>> released;
  ASSERT_TRUE(locks.release(std::move(**acquired),
                            [&](result<void> r) { released.emplace(std::move(r)); }));
  run_until([&] { return released.has_value(); });
  ASSERT_TRUE(*released) << released->message();  // two of three confirmed
  auto owed = [&] { return (*locks.health())[0].owed_releases; };
  run_until([&] { return owed() == 1; });
  fleet->resume(0);
  keep_loop_running();
  run_until([&] { return owed() == 0 && values_of("redlock:owed")[0] == "(nil)"; },
            milliseconds(10000));
  EXPECT_THAT(values_of("redlock:owed"), ::testing::Each("(nil)"));
}

TEST_F(AsyncClientTest, BlockingReleaseOnTheLoopThreadStillReleases) {
  start_fleet(1);
  async_client locks = make_async(options_for(*fleet));
  lease kept;
  std::optional<result<void>> inside;
  ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) {
    ASSERT_TRUE(r);
    kept = std::move(*r);
    inside.emplace(kept.release());
  }));
  run_until([&] { return inside.has_value(); });
  EXPECT_EQ(inside->error(), errc::would_deadlock);
  EXPECT_FALSE(kept);
  run_until([&] { return fleet->command(0, {"EXISTS", "redlock:job"}) == "0"; });
}

// A lease of an async client may be used, blocking, from another thread.
TEST_F(AsyncClientTest, LeaseUsedFromAnotherThread) {
  start_fleet(1);
  async_client locks = make_async(options_for(*fleet));
  std::optional<result<lease>> acquired;
  ASSERT_TRUE(locks.acquire("job", {}, [&](result<lease> r) { acquired.emplace(std::move(r)); }));
  run_until([&] { return acquired.has_value(); });
  ASSERT_TRUE(*acquired);
  std::atomic<bool> finished{false};
  std::optional<result<void>> released;
  std::thread other([&] {
    released.emplace((*acquired)->release());
    finished = true;
  });
  run_until([&] { return finished.load(); });
  other.join();
  ASSERT_TRUE(*released) << released->message();
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:job"}), "0");
}

TEST_F(AsyncClientTest, AnotherClientsLeaseIsRefused) {
  start_fleet(1);
  async_client first = make_async(options_for(*fleet));
  async_client second = make_async(options_for(*fleet));
  std::optional<result<lease>> acquired;
  ASSERT_TRUE(first.acquire("job", {}, [&](result<lease> r) { acquired.emplace(std::move(r)); }));
  run_until([&] { return acquired.has_value(); });
  ASSERT_TRUE(*acquired);
  auto refused = second.extend(**acquired, milliseconds(5000), [](result<void>) { ADD_FAILURE(); });
  EXPECT_EQ(refused.error(), errc::invalid_option);
  EXPECT_THAT(refused.message(), HasSubstr("another client"));
}

TEST_F(AsyncClientTest, WaitReadyRunsItsCallbackOnceAMajorityIsConnected) {
  start_fleet(3);
  async_client locks = make_async(options_for(*fleet));
  std::optional<result<void>> ready;
  int calls = 0;
  ASSERT_TRUE(locks.wait_ready(milliseconds(10000), [&](result<void> r) {
    ++calls;
    ready.emplace(std::move(r));
  }));
  EXPECT_EQ(calls, 0);  // never inside the call
  run_until([&] { return ready.has_value(); });
  ASSERT_TRUE(*ready) << ready->message();
  EXPECT_GE(ready->tally().granted(), 2u);
  auto health = locks.health();  // the same shape as client::health()
  ASSERT_TRUE(health) << health.message();
  EXPECT_EQ(health->size(), 3u);
  EXPECT_EQ(locks.wait_ready(milliseconds(-1), [](result<void>) { ADD_FAILURE(); }).error(),
            errc::invalid_option);
  EXPECT_EQ(calls, 1);
}

TEST_F(AsyncClientTest, NullLoopIsRefused) {
  client_options o;
  o.endpoints = {"redis://127.0.0.1:6379"};
  auto c = async_client::create(nullptr, o);
  EXPECT_EQ(c.error(), errc::invalid_option);
  EXPECT_THAT(c.message(), HasSubstr("loop"));
}

}  // namespace
}  // namespace redlock::testing
