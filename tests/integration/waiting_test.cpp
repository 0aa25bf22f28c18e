// Waiting for a busy lock by notification, on real servers: the release script publishes, the
// waiting client's subscriber connections hear it, and the waiter tries again at once instead
// of after its retry delay; a lock that expires instead is still picked up by the retry.
#include <gmock/gmock.h>

#include <future>
#include <optional>
#include <thread>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct timed_grant {
  result<lease> granted;
  steady_clock::time_point at;
};

class WaitingTest : public fleet_test {
 protected:
  // `waiter` waits up to 20 s for "job" on another thread; the grant says when it came.
  static std::future<timed_grant> wait_for_job(client& waiter) {
    return std::async(std::launch::async, [&waiter] {
      result<lease> r = waiter.acquire("job", waiting_up_to(milliseconds(20000)));
      return timed_grant{std::move(r), steady_clock::now()};
    });
  }
  // A client whose retries alone would take seconds: what is quicker is the notification.
  client make_slow_retrying_client() {
    client_options o = options_for(*fleet);
    o.retry_delay = milliseconds(5000);
    o.retry_jitter = milliseconds(0);
    return make_client(o);
  }
  // A holder client holds "job" for 30 s; a slow-retrying waiter client waits for it, and
  // after `settle` its attempts are refused and it waits (subscriptions confirmed by then).
  void hold_job_and_wait_for_it(milliseconds settle) {
    start_fleet(3);
    holder_client.emplace(make_client());
    waiter_client.emplace(make_slow_retrying_client());
    held.emplace(holder_client->acquire("job", ttl_of(milliseconds(30000))));
    ASSERT_TRUE(*held) << held->message();
    waiting = wait_for_job(*waiter_client);
    ASSERT_EQ(waiting.wait_for(settle), std::future_status::timeout);
  }
  static acquire_options waiting_up_to(milliseconds wait) {
    acquire_options o;
    o.ttl = milliseconds(30000);
    o.wait = wait;
    return o;
  }

  std::optional<client> holder_client, waiter_client;
  std::optional<result<lease>> held;
  std::future<timed_grant> waiting;
};

TEST_F(WaitingTest, AWaiterAcquiresRightAfterTheReleaseNotAfterItsRetryDelay) {
  ASSERT_NO_FATAL_FAILURE(hold_job_and_wait_for_it(milliseconds(1000)));
  auto released_at = steady_clock::now();
  ASSERT_TRUE((*held)->release());
  timed_grant got = waiting.get();
  ASSERT_TRUE(got.granted) << got.granted.message();
  // Woken by the release: far sooner than the 5 s retry delay.
  EXPECT_LT(got.at - released_at, milliseconds(1000));
  // The first attempt, the one its subscription's confirmation calls for, the one the first
  // node's notification woke, and at most one more if that one overtook the release on the
  // other nodes (their notifications, heard meanwhile, call for it).
  EXPECT_LE(got.granted.tally().attempts(), 4);
  EXPECT_TRUE(every_node_has("redlock:job", got.granted->token()));
}

TEST_F(WaitingTest, ALockThatExpiresIsPickedUpByTheRetry) {
  start_fleet(3);
  // Someone else's lock, set by hand, is never released: nothing is published.
  for (std::size_t i = 0; i < 3; ++i)
    fleet->command(i, {"SET", "redlock:job", "someone-else", "PX", "600"});
  client_options o = options_for(*fleet);
  o.retry_delay = milliseconds(200);
  client waiter = make_client(o);
  result<lease> got = waiter.acquire("job", waiting_up_to(milliseconds(10000)));
  ASSERT_TRUE(got) << got.message();
  EXPECT_GE(got.tally().attempts(), 2);
  EXPECT_TRUE(every_node_has("redlock:job", got->token()));
}

// The servers drop every subscriber connection while the waiter waits: it subscribes again on
// the new connections and still hears the release.
TEST_F(WaitingTest, AWaiterStillHearsTheReleaseAfterItsSubscriberConnectionsWereDropped) {
  ASSERT_NO_FATAL_FAILURE(hold_job_and_wait_for_it(milliseconds(500)));
  for (std::size_t i = 0; i < 3; ++i)  // the waiter's one subscriber connection on each
    EXPECT_EQ(fleet->command(i, {"CLIENT", "KILL", "TYPE", "pubsub"}), "1") << "node " << i;
  ASSERT_EQ(waiting.wait_for(milliseconds(1000)), std::future_status::timeout);  // reconnected
  auto released_at = steady_clock::now();
  ASSERT_TRUE((*held)->release());
  timed_grant got = waiting.get();
  ASSERT_TRUE(got.granted) << got.granted.message();
  EXPECT_LT(got.at - released_at, milliseconds(1000));  // not the 5 s retry delay
}

// Someone else holds a majority; the waiter wins the minority node each time and cleans it up
// after its lost round. That clean-up must not wake the waiter (it would try again at once,
// win the minority again, clean up again: a loop for the holder's whole hold).
TEST_F(WaitingTest, AWaitersOwnCleanUpDoesNotWakeIt) {
  start_fleet(3);
  for (std::size_t i : {0u, 1u})
    fleet->command(i, {"SET", "redlock:job", "someone-else", "PX", "60000"});
  client_options o = options_for(*fleet);
  o.retry_delay = milliseconds(200);
  o.retry_jitter = milliseconds(0);
  client waiter = make_client(o);
  result<lease> got = waiter.acquire("job", waiting_up_to(milliseconds(1000)));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), errc::held_elsewhere);
  // About one attempt per retry delay (plus the one the subscription's confirmation calls for).
  EXPECT_LE(got.tally().attempts(), 8);
  EXPECT_TRUE(eventually([&] { return fleet->command(2, {"GET", "redlock:job"}) == "(nil)"; }));
}

// Two other owners each hold the key on one of the three servers until it expires (contenders
// that lost, say): nobody holds a majority and no release will come. The waiter tries again on
// a growing back-off instead of its 5 s retry delay, and gets the lock soon after they expire.
TEST_F(WaitingTest, ASplitBetweenTwoOtherOwnersIsTriedAgainSoonNotAfterTheRetryDelay) {
  start_fleet(3);
  fleet->command(1, {"SET", "redlock:job", "owner-b", "PX", "300"});
  fleet->command(2, {"SET", "redlock:job", "owner-c", "PX", "300"});
  client waiter = make_slow_retrying_client();
  auto started = steady_clock::now();
  result<lease> got = waiter.acquire("job", waiting_up_to(milliseconds(20000)));
  ASSERT_TRUE(got) << got.message();
  EXPECT_LT(steady_clock::now() - started, milliseconds(3000));
  EXPECT_GE(got.tally().attempts(), 2);
  EXPECT_TRUE(every_node_has("redlock:job", got->token()));
}

// One release, several clients waiting: one of them gets the lock at once, the others keep
// waiting (none fails, none is granted alongside it), and each release hands the lock on.
TEST_F(WaitingTest, EachReleaseHandsTheLockToOneOfTheWaitingClients) {
  start_fleet(3);
  client holder = make_client();
  result<lease> first = holder.acquire("job", ttl_of(milliseconds(30000)));
  ASSERT_TRUE(first) << first.message();
  constexpr int waiters = 4;
  std::vector<client> clients;
  for (int i = 0; i < waiters; ++i)
    clients.push_back(make_slow_retrying_client());
  std::vector<std::future<timed_grant>> grants;
  for (auto& c : clients) {
    grants.push_back(wait_for_job(c));
  }
  std::this_thread::sleep_for(milliseconds(1000));
  ASSERT_TRUE(first->release());
  auto started = steady_clock::now();
  // Each grant is released by the test in turn; every waiter gets the lock, one at a time.
  std::vector<bool> done(waiters, false);
  for (int round = 0; round < waiters; ++round) {
    int winner = -1;
    while (winner < 0 && steady_clock::now() - started < milliseconds(15000)) {
      for (int i = 0; i < waiters; ++i) {
        if (!done[static_cast<std::size_t>(i)] &&
            grants[static_cast<std::size_t>(i)].wait_for(milliseconds(1)) ==
                std::future_status::ready) {
          winner = i;
          break;
        }
      }
    }
    ASSERT_GE(winner, 0) << "nobody got the lock after release " << round;
    timed_grant got = grants[static_cast<std::size_t>(winner)].get();
    done[static_cast<std::size_t>(winner)] = true;
    ASSERT_TRUE(got.granted) << got.granted.message();
    // Nobody else holds it meanwhile.
    for (int i = 0; i < waiters; ++i) {
      if (done[static_cast<std::size_t>(i)]) continue;
      EXPECT_EQ(grants[static_cast<std::size_t>(i)].wait_for(milliseconds(0)),
                std::future_status::timeout);
    }
    ASSERT_TRUE(got.granted->release());
  }
  // Four hand-offs by notification, not by 5 s retries.
  EXPECT_LT(steady_clock::now() - started, milliseconds(4000));
}

}  // namespace
}  // namespace redlock::testing
