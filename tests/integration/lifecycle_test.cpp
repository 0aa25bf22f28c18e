// A lease's life after its grant, on real servers: auto-extension through a minority of
// paused nodes, the lost signal (early, at the margin, when a proxy cuts the majority; at once
// when our keys were deleted by hand), and a client destroyed while it holds leases.
#include <gmock/gmock.h>
#include <uv.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "async_fixture.hpp"
#include "fault_proxy.hpp"
#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

// What the on_lost callback saw, from the client's loop thread.
struct lost_log {
  std::mutex mutex;
  std::vector<lease_lost> signals;
  std::vector<bool> lost_when_told;  // lease::lost() as the callback ran
  const lease* watched = nullptr;

  std::function<void(const lease_lost&)> callback() {
    return [this](const lease_lost& l) {
      std::lock_guard<std::mutex> hold(mutex);
      signals.push_back(l);
      if (watched != nullptr) lost_when_told.push_back(watched->lost());
    };
  }
  void watch(const lease* l) {
    std::lock_guard<std::mutex> hold(mutex);
    watched = l;
  }
  std::size_t count() {
    std::lock_guard<std::mutex> hold(mutex);
    return signals.size();
  }
};

class LifecycleTest : public fleet_test {};

// An auto-extended acquire of `ttl` whose lost signal goes to `log`.
acquire_options auto_extended(std::chrono::milliseconds ttl, lost_log& log) {
  acquire_options o = ttl_of(ttl);
  o.auto_extend.enabled = true;
  o.on_lost = log.callback();
  return o;
}

TEST_F(LifecycleTest, AutoExtendedLeaseOutlivesFiveTtlsWithAMinorityPaused) {
  start_fleet(5);
  client locks = make_client();
  ASSERT_TRUE(locks.wait_ready(milliseconds(10000)));
  lost_log log;
  acquire_options o = auto_extended(milliseconds(2000), log);
  result<lease> held = locks.acquire("kept", o);
  ASSERT_TRUE(held) << held.message();
  fleet->pause(3);
  fleet->pause(4);
  auto until = steady_clock::now() + 5 * o.ttl;
  while (steady_clock::now() < until) {
    ASSERT_FALSE(held->lost()) << (held->lost_reason() ? held->lost_reason()->message : "");
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(log.count(), 0u);
  EXPECT_GT(held->remaining(), milliseconds(0));
  for (std::size_t i : {0u, 1u, 2u}) {
    EXPECT_EQ(fleet->command(i, {"GET", "redlock:kept"}), held->token()) << "node " << i;
  }
  fleet->resume(3);
  fleet->resume(4);
  EXPECT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "kept"); }));
}

// A partition cuts the holder off from the majority: extensions fail, and the lease is
// declared lost at its margin, before valid_until(), once.
TEST_F(LifecycleTest, LostFiresBeforeValidUntilWhenTheMajorityIsCutOff) {
  start_fleet(3);
  std::vector<std::unique_ptr<fault_proxy>> proxies;
  client_options c = options_for(*fleet);
  c.endpoints.clear();
  for (std::size_t i = 0; i < 3; ++i) {
    proxies.push_back(std::make_unique<fault_proxy>(fleet->port(i)));
    c.endpoints.push_back(proxies.back()->url());
  }
  client locks = make_client(c);
  ASSERT_TRUE(locks.wait_ready(milliseconds(10000)));
  lost_log log;
  acquire_options o = auto_extended(milliseconds(3000), log);
  o.lost_margin = 0.2;
  result<lease> held = locks.acquire("cut", o);
  ASSERT_TRUE(held) << held.message();
  proxies[1]->blackhole();
  proxies[2]->blackhole();
  EXPECT_TRUE(held->wait_lost(milliseconds(10000)));
  auto lost_at = steady_clock::now();
  ASSERT_TRUE(eventually([&] { return log.count() == 1; }));
  std::lock_guard<std::mutex> hold(log.mutex);
  const lease_lost& told = log.signals[0];
  EXPECT_EQ(told.why, lease_lost::cause::margin_reached) << told.message;
  EXPECT_THAT(told.message, HasSubstr("safety margin (600 ms"));
  EXPECT_LT(told.at, held->valid_until());
  EXPECT_LT(lost_at, held->valid_until() + milliseconds(1));  // wait_lost woke in time too
  ASSERT_TRUE(held->lost_reason());
  EXPECT_EQ(held->lost_reason()->why, lease_lost::cause::margin_reached);
}

TEST_F(LifecycleTest, KeysDeletedByHandOnAMajorityAreLostAtTheNextExtension) {
  start_fleet(3);
  client locks = make_client();
  lost_log log;
  acquire_options o = auto_extended(milliseconds(2000), log);
  result<lease> held = locks.acquire("tampered", o);
  ASSERT_TRUE(held) << held.message();
  log.watch(&*held);
  // Every SET has run (the acquire returns at a majority), so the deletes come after ours.
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:tampered", held->token()); }));
  fleet->command(0, {"DEL", "redlock:tampered"});
  fleet->command(1, {"DEL", "redlock:tampered"});
  ASSERT_TRUE(eventually([&] { return log.count() == 1; }, milliseconds(5000)));
  std::lock_guard<std::mutex> hold(log.mutex);
  EXPECT_EQ(log.signals[0].why, lease_lost::cause::refused) << log.signals[0].message;
  EXPECT_GE(log.signals[0].votes.refused(), 2u);
  EXPECT_EQ(log.lost_when_told, std::vector<bool>{true});  // lost() had turned true already
  EXPECT_TRUE(held->lost());
}

// The ownership check finds tampering before any extension would: a ttl shortened by hand
// shortens the lease, and keys deleted on a majority lose it.
TEST_F(LifecycleTest, OwnershipCheckSeesKeysChangedByHand) {
  start_fleet(3);
  client locks = make_client();
  lost_log log;
  acquire_options o = ttl_of(milliseconds(30000));
  o.on_lost = log.callback();
  result<lease> held = locks.acquire("checked", o);
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:checked", held->token()); }));
  result<ownership> fine = held->check_ownership();
  ASSERT_TRUE(fine) << fine.message();
  EXPECT_GT(fine->min_ttl, milliseconds(20000));
  EXPECT_LE(fine->min_ttl, milliseconds(30000));

  for (std::size_t i : {0u, 1u, 2u})
    fleet->command(i, {"PEXPIRE", "redlock:checked", "5000"});
  result<ownership> shorter = held->check_ownership();
  ASSERT_TRUE(shorter) << shorter.message();
  EXPECT_LE(shorter->min_ttl, milliseconds(5000));
  EXPECT_LT(held->remaining(), milliseconds(5000));
  EXPECT_FALSE(held->lost());

  fleet->command(0, {"DEL", "redlock:checked"});
  fleet->command(2, {"SET", "redlock:checked", "someone-else"});
  result<ownership> gone = held->check_ownership();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error(), errc::lock_lost) << gone.message();
  EXPECT_TRUE(held->lost());
  ASSERT_TRUE(eventually([&] { return log.count() == 1; }));
  std::lock_guard<std::mutex> hold(log.mutex);
  EXPECT_EQ(log.signals[0].why, lease_lost::cause::refused);
}

TEST_F(LifecycleTest, DestroyingTheClientLosesAndReleasesTheLeasesItHeld) {
  start_fleet(3);
  lost_log log;
  std::optional<lease> held;
  {
    client locks = make_client();
    acquire_options o = ttl_of(milliseconds(60000));
    o.on_lost = log.callback();
    result<lease> got = locks.acquire("left", o);
    ASSERT_TRUE(got) << got.message();
    held.emplace(std::move(*got));
    ASSERT_TRUE(eventually([&] { return every_node_has("redlock:left", held->token()); }));
  }
  // The client is gone: the signal ran, and the keys did not wait for their 60 s ttl.
  ASSERT_EQ(log.count(), 1u);
  EXPECT_EQ(log.signals[0].why, lease_lost::cause::client_closed);
  EXPECT_TRUE(held->lost());
  EXPECT_TRUE(keys_gone_soon(*fleet, "left"));
  held.reset();  // nothing left to release, nothing to crash
}

TEST_F(LifecycleTest, WithLockHoldsTheLockWhileTheWorkRunsLongerThanItsTtl) {
  start_fleet(3);
  client locks = make_client();
  std::string token;
  result<void> done = locks.with_lock("job", ttl_of(milliseconds(1000)), [&](const lease& held) {
    token = held.token();
    std::this_thread::sleep_for(milliseconds(2500));  // 2.5 ttls: kept alive meanwhile
    EXPECT_FALSE(held.lost());
    EXPECT_TRUE(every_node_has("redlock:job", token));
  });
  EXPECT_TRUE(done) << done.message();
  EXPECT_FALSE(token.empty());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

TEST_F(LifecycleTest, WithLockReleasesWhenTheWorkThrowsAndPassesTheExceptionOn) {
  start_fleet(3);
  client locks = make_client();
  EXPECT_THROW((void)locks.with_lock(
                   "job", {}, [&](const lease&) { throw std::runtime_error("failed work"); }),
               std::runtime_error);
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

TEST_F(LifecycleTest, WithLockSaysSoWhenTheLockWasLostWhileTheWorkRan) {
  start_fleet(3);
  client locks = make_client();
  result<void> done = locks.with_lock("job", ttl_of(milliseconds(1000)), [&](const lease& held) {
    ASSERT_TRUE(eventually([&] { return every_node_has("redlock:job", held.token()); }));
    for (std::size_t i : {0u, 1u})
      fleet->command(i, {"DEL", "redlock:job"});
    EXPECT_TRUE(held.wait_lost(milliseconds(5000)));
  });
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error(), errc::lock_lost);
  EXPECT_THAT(done.message(), HasSubstr("was lost while the work ran"));
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

TEST_F(LifecycleTest, WithLockThatCannotAcquireDoesNotRunTheWork) {
  start_fleet(3);
  client locks = make_client();
  for (std::size_t i : {0u, 1u})
    fleet->command(i, {"SET", "redlock:job", "someone-else", "PX", "60000"});
  bool ran = false;
  result<void> done = locks.with_lock("job", {}, [&](const lease&) { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_EQ(done.error(), errc::held_elsewhere) << done.message();
}

// A blocking acquire waiting for a busy lock is called off from another thread, at once.
TEST_F(LifecycleTest, ABlockingAcquireWaitingForABusyLockIsCancelledFromAnotherThread) {
  start_fleet(3);
  client locks = make_client();
  result<lease> holder = locks.acquire("busy", ttl_of(milliseconds(60000)));
  ASSERT_TRUE(holder) << holder.message();
  cancel_token stop;
  acquire_options o;
  o.wait = milliseconds(30000);
  o.cancel = stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(300));
    stop.cancel();
  });
  auto start = steady_clock::now();
  result<lease> waited = locks.acquire("busy", o);
  auto took = steady_clock::now() - start;
  canceller.join();
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error(), errc::cancelled) << waited.message();
  EXPECT_LT(took, milliseconds(5000));                           // not the 30 s budget
  EXPECT_TRUE(every_node_has("redlock:busy", holder->token()));  // the holder's lock is untouched
  // A cancelled token stays cancelled: the next acquire with it fails at once.
  result<lease> again = locks.acquire("free", o);
  EXPECT_EQ(again.error(), errc::cancelled);
  EXPECT_TRUE(keys_gone_soon(*fleet, "free"));
}

// A lost round leaves a SET written to a paused node, and the client is destroyed before that
// node answers: closing waits for the answer (each within node_timeout) and sends its
// clean-up, instead of leaving our key there for its whole ttl.
TEST_F(LifecycleTest, ClosingAfterALostRoundStillCleansUpWhereTheSetRanLate) {
  start_fleet(3);
  fleet->command(0, {"SET", "redlock:r", "someone-else", "PX", "60000"});
  fleet->command(1, {"SET", "redlock:r", "someone-else", "PX", "60000"});
  std::thread resume_later;
  {
    client locks = make_client();
    wait_all_connected(locks);
    fleet->pause(2);
    result<lease> got = locks.acquire("r", ttl_of(milliseconds(60000)));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), errc::held_elsewhere) << got.message();
    // The node comes back while the client closes, before its SET's deadline.
    resume_later = std::thread([&] {
      std::this_thread::sleep_for(milliseconds(100));
      fleet->resume(2);
    });
  }
  resume_later.join();
  EXPECT_TRUE(eventually([&] {
    return fleet->command(2, {"EXISTS", "redlock:r"}) == "0";
  })) << "our key left on node 2, pttl "
      << fleet->command(2, {"PTTL", "redlock:r"});
}

class AsyncLifecycleTest : public async_fleet_test {};

TEST_F(AsyncLifecycleTest, WithLockReleasesOnceTheWorkSaysItFinished) {
  start_fleet(3);
  async_client locks = make_async(options_for(*fleet));
  std::function<void()> finish;
  std::string token;
  std::optional<result<void>> outcome;
  ASSERT_TRUE(locks.with_lock(
      "job", ttl_of(milliseconds(1000)),
      [&](const lease& held, std::function<void()> finished) {
        token = held.token();
        finish = std::move(finished);
      },
      [&](result<void> r) { outcome.emplace(std::move(r)); }));
  run_until([&] { return bool(finish); });
  // Held, and kept alive across two ttls, until the work says it is done.
  auto until = steady_clock::now() + milliseconds(2000);
  while (steady_clock::now() < until)
    uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_TRUE(every_node_has("redlock:job", token));
  EXPECT_FALSE(outcome.has_value());
  finish();
  finish();  // a second call does nothing
  run_until([&] { return outcome.has_value(); });
  EXPECT_TRUE(*outcome) << outcome->message();
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

// Cancelled on the loop's own thread: the callback runs later on the loop, never inside
// cancel().
TEST_F(AsyncLifecycleTest, CancellingOnTheLoopRunsTheCallbackLater) {
  start_fleet(3);
  for (std::size_t i : {0u, 1u})
    fleet->command(i, {"SET", "redlock:busy", "someone-else", "PX", "60000"});
  async_client locks = make_async(options_for(*fleet));
  cancel_token stop;
  acquire_options o;
  o.wait = milliseconds(30000);
  o.cancel = stop;
  std::optional<result<lease>> got;
  ASSERT_TRUE(locks.acquire("busy", o, [&](result<lease> r) { got.emplace(std::move(r)); }));
  auto until = steady_clock::now() + milliseconds(200);
  while (steady_clock::now() < until)
    uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_FALSE(got.has_value());
  stop.cancel();
  EXPECT_FALSE(got.has_value());
  run_until([&] { return got.has_value(); });
  EXPECT_EQ(got->error(), errc::cancelled) << got->message();
}

// An acquire won while its client closes does not escape the close: it is released, and the
// caller is told client_closed.
TEST_F(AsyncLifecycleTest, AnAcquireWonWhileTheClientClosesIsReleased) {
  start_fleet(3);
  std::optional<result<lease>> got;
  {
    async_client locks = make_async(options_for(*fleet));
    ASSERT_NO_FATAL_FAILURE(run_until_ready(locks));
    ASSERT_TRUE(locks.acquire("late", ttl_of(milliseconds(60000)),
                              [&](result<lease> r) { got.emplace(std::move(r)); }));
  }  // closes while the SETs are in flight
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), errc::client_closed) << got->message();
  EXPECT_TRUE(keys_gone_soon(*fleet, "late"));
}

TEST_F(AsyncLifecycleTest, AnAsyncClientGoneLeavesNoLoopAliveForItsLeases) {
  start_fleet(3);
  std::optional<lease> held;
  int signals = 0;
  {
    async_client locks = make_async(options_for(*fleet));
    acquire_options o = ttl_of(milliseconds(60000));
    o.auto_extend.enabled = true;
    o.on_lost = [&](const lease_lost& l) {
      ++signals;
      EXPECT_EQ(l.why, lease_lost::cause::client_closed);
    };
    std::optional<result<lease>> got;
    ASSERT_TRUE(locks.acquire("kept", o, [&](result<lease> r) { got.emplace(std::move(r)); }));
    run_until([&] { return got.has_value(); });
    ASSERT_TRUE(*got) << got->message();
    held.emplace(std::move(**got));
  }
  // uv_run returns although the lease is still in our hands, and the loop closes cleanly.
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(signals, 1);
  EXPECT_TRUE(held->lost());
  EXPECT_TRUE(keys_gone_soon(*fleet, "kept"));
  held.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
}

}  // namespace
}  // namespace redlock::testing
