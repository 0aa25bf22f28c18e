// Locks on several resources (acquire_all) on real redis-server fleets: all or nothing on every
// node, no key of ours left anywhere when one resource is held elsewhere, the keys extended,
// checked and released together, waiting, fencing, and both clients.
#include <gmock/gmock.h>

#include <atomic>
#include <thread>

#include "async_fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class MultiResourceTest : public async_fleet_test {
 protected:
  // How many DELs node i ran (INFO commandstats counts those of scripts too).
  long long deletes_on(std::size_t i) const {
    std::string stats = fleet->command(i, {"INFO", "commandstats"});
    std::size_t at = stats.find("cmdstat_del:calls=");
    return at == std::string::npos ? 0 : std::stoll(stats.substr(at + 18));
  }
  // Whether `key` has `token` on every node, each with a ttl of more than `above` ms.
  bool everywhere(const std::string& key, const std::string& token, long long above) const {
    for (std::size_t i = 0; i < fleet->size(); ++i) {
      if (fleet->command(i, {"GET", key}) != token) return false;
      if (std::stoll(fleet->command(i, {"PTTL", key})) <= above) return false;
    }
    return true;
  }
};

TEST_F(MultiResourceTest, EveryResourceIsTakenWithOneTokenAndReleasedTogether) {
  start_fleet(3);
  client locks = make_client();
  result<lease> held = locks.acquire_all({"a", "b", "c"}, ttl_of(milliseconds(20000)));
  ASSERT_TRUE(held) << held.message();
  EXPECT_THAT(held->resources(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(held->resource(), "a");
  for (const char* key : {"redlock:a", "redlock:b", "redlock:c"}) {
    EXPECT_TRUE(eventually([&] { return everywhere(key, held->token(), 0); })) << key;
  }
  // One lock: another client gets none of them, alone or together.
  client other = make_client();
  EXPECT_EQ(other.acquire("b").error(), errc::held_elsewhere);
  result<lease> overlapping = other.acquire_all({"c", "d"});
  EXPECT_EQ(overlapping.error(), errc::held_elsewhere);
  EXPECT_THAT(overlapping.message(), HasSubstr("'c' of 'c' and 'd' is held (at least)"));
  EXPECT_TRUE(keys_gone_soon(*fleet, "d"));

  ASSERT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] {
    return no_keys_left(*fleet, "a") && no_keys_left(*fleet, "b") && no_keys_left(*fleet, "c");
  }));
  result<lease> after = other.acquire_all({"c", "d"});
  EXPECT_TRUE(after) << after.message();
}

// The case the issue names: one resource is held elsewhere, so the lock is refused, and none
// of the other keys is left on any node (each node sets all of them or none; the nodes that
// set them all get the clean-up). The other owner's key is untouched.
TEST_F(MultiResourceTest, OneResourceHeldElsewhereLeavesNoKeyOfOursAnywhere) {
  start_fleet(5);
  client holder = make_client();
  client locks = make_client();
  // "b" held on three of the five nodes (by hand): nodes 3 and 4 set all of our keys, the
  // round is lost, and they get the clean-up.
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_EQ(fleet->command(i, {"SET", "redlock:b", "theirs", "PX", "60000"}), "OK");
  result<lease> refused = locks.acquire_all({"a", "b", "c"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::held_elsewhere);
  EXPECT_THAT(refused.message(), HasSubstr("'b' of 'a', 'b' and 'c' is held (at least)"));
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "a") && no_keys_left(*fleet, "c"); }))
      << "a key of the refused lock was left behind";
  // Nodes 3 and 4 did set all three keys (the round was decided before they answered), and
  // the clean-up deleted all three there.
  for (std::size_t i = 3; i < 5; ++i) {
    EXPECT_TRUE(eventually([&] { return deletes_on(i) == 3; }))
        << "node " << i << ": " << deletes_on(i) << " deletes";
  }
  for (std::size_t i = 3; i < 5; ++i)
    EXPECT_EQ(fleet->command(i, {"EXISTS", "redlock:b"}), "0") << "node " << i;
  // Nodes 0 to 2 wrote nothing of ours (nothing to clean up there), and kept their owner's key.
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(deletes_on(i), 0) << "node " << i;
    EXPECT_EQ(fleet->command(i, {"GET", "redlock:b"}), "theirs") << "node " << i;
  }
  // A real holder of "c" on every node: the same, with the lock's other keys never set.
  result<lease> c = holder.acquire("c");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(locks.acquire_all({"x", "c"}).error(), errc::held_elsewhere);
  EXPECT_TRUE(keys_gone_soon(*fleet, "x"));
  EXPECT_TRUE(eventually([&] { return everywhere("redlock:c", c->token(), 0); }));
}

TEST_F(MultiResourceTest, ExtendAndCheckCoverEveryKeyAndATamperedOneLosesTheLock) {
  start_fleet(3);
  client locks = make_client();
  result<lease> held = locks.acquire_all({"a", "b"}, ttl_of(milliseconds(5000)));
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return everywhere("redlock:b", held->token(), 0); }));
  ASSERT_TRUE(held->extend(milliseconds(60000)));
  EXPECT_TRUE(everywhere("redlock:a", held->token(), 30000));
  EXPECT_TRUE(everywhere("redlock:b", held->token(), 30000));
  result<ownership> mine = held->check_ownership();
  ASSERT_TRUE(mine) << mine.message();
  EXPECT_GT(mine->min_ttl, milliseconds(30000));

  // Someone deletes one of the keys on a majority: the lock is no longer held there.
  for (std::size_t i = 0; i < 2; ++i)
    ASSERT_EQ(fleet->command(i, {"DEL", "redlock:b"}), "1");
  EXPECT_EQ(held->check_ownership().error(), errc::lock_lost);
  // All or nothing: the refused extend gave the remaining key no new ttl on those nodes.
  EXPECT_EQ(held->extend(milliseconds(120000)).error(), errc::lock_lost);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_LE(std::stoll(fleet->command(i, {"PTTL", "redlock:a"})), 60000) << "node " << i;
  }
  EXPECT_TRUE(held->lost());
  ASSERT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "a") && no_keys_left(*fleet, "b"); }));
}

// A waiter for two resources is woken by the release of the one it waited for, not by its
// retry delay (set to a minute to prove it).
TEST_F(MultiResourceTest, AWaiterIsWokenByTheReleaseOfAnyOfItsResources) {
  start_fleet(3);
  client_options o = options_for(*fleet);
  o.retry_delay = milliseconds(60000);
  o.retry_jitter = milliseconds(0);
  client holder = make_client();
  client waiter = make_client(o);
  result<lease> b = holder.acquire("b");
  ASSERT_TRUE(b) << b.message();
  std::optional<result<lease>> got;
  std::thread wait([&] {
    acquire_options w;
    w.wait = milliseconds(30000);
    got.emplace(waiter.acquire_all({"a", "b"}, w));
  });
  ASSERT_TRUE(eventually([&] {
    auto m = waiter.metrics();
    return m && m->attempts >= 1;
  }));
  // Refused: it subscribes and settles into its (minute-long) retry delay.
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(keys_gone_soon(*fleet, "a"));
  auto released_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(b->release());
  wait.join();
  ASSERT_TRUE(got && *got) << (got ? got->message() : "no outcome");
  EXPECT_LT(std::chrono::steady_clock::now() - released_at, milliseconds(20000))
      << "woken by the retry delay, not by the release";
  EXPECT_THAT((*got)->resources(), ElementsAre("a", "b"));
}

// With fencing, the one number of a lock on several resources is greater than every number
// handed out before for each of them, and later numbers of each are greater again.
TEST_F(MultiResourceTest, TheFenceOfSeveralResourcesExceedsEachOnesEarlierFences) {
  start_fleet(3);
  client locks = make_client();
  acquire_options fenced;
  fenced.fencing = true;
  std::uint64_t a = 0, b = 0;
  for (int i = 0; i < 3; ++i) {
    result<lease> one = locks.acquire("b", fenced);
    ASSERT_TRUE(one) << one.message();
    b = one->fence().value_or(0);
    ASSERT_TRUE(one->release());
  }
  result<lease> first_a = locks.acquire("a", fenced);
  ASSERT_TRUE(first_a) << first_a.message();
  a = first_a->fence().value_or(0);
  ASSERT_TRUE(first_a->release());
  ASSERT_LT(a, b);  // "a" is behind "b"

  result<lease> both = locks.acquire_all({"a", "b"}, fenced);
  ASSERT_TRUE(both) << both.message();
  ASSERT_TRUE(both->fence().has_value());
  EXPECT_GT(*both->fence(), a);
  EXPECT_GT(*both->fence(), b);
  std::uint64_t together = *both->fence();
  ASSERT_TRUE(both->release());
  for (const char* r : {"a", "b"}) {
    result<lease> next = locks.acquire(r, fenced);
    ASSERT_TRUE(next) << next.message();
    EXPECT_GT(next->fence().value_or(0), together) << r;
    ASSERT_TRUE(next->release());
  }
}

TEST_F(MultiResourceTest, WithLockAllKeepsEveryKeyAliveAcrossSeveralTtls) {
  start_fleet(3);
  client locks = make_client();
  std::string token;
  result<void> done =
      locks.with_lock_all({"a", "b"}, ttl_of(milliseconds(1000)), [&](const lease& held) {
        token = held.token();
        std::this_thread::sleep_for(milliseconds(3000));
        EXPECT_FALSE(held.lost());
        EXPECT_TRUE(everywhere("redlock:a", held.token(), 0));
        EXPECT_TRUE(everywhere("redlock:b", held.token(), 0));
      });
  EXPECT_TRUE(done) << done.message();
  EXPECT_FALSE(token.empty());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "a") && no_keys_left(*fleet, "b"); }));
}

TEST_F(MultiResourceTest, BadResourceListsAreRefusedByName) {
  start_fleet(1);
  client locks = make_client();
  EXPECT_THAT(locks.acquire_all({}).message(), HasSubstr("invalid option resources"));
  EXPECT_THAT(locks.acquire_all({"a", "a"}).message(),
              HasSubstr("resource #2 'a' is the same as resource #1"));
  EXPECT_THAT(locks.acquire_all({"a", ""}).message(), HasSubstr("resource #2 is empty"));
}

TEST_F(MultiResourceTest, TheAsyncClientTakesAndReleasesSeveralResources) {
  start_fleet(3);
  async_client locks = make_async(options_for(*fleet));
  ASSERT_NO_FATAL_FAILURE(run_until_ready(locks));
  std::optional<result<lease>> got;
  ASSERT_TRUE(
      locks.acquire_all({"a", "b"}, {}, [&](result<lease> r) { got.emplace(std::move(r)); }));
  run_until([&] { return got.has_value(); });
  ASSERT_TRUE(*got) << got->message();
  EXPECT_THAT((*got)->resources(), ElementsAre("a", "b"));
  std::string token = (*got)->token();
  run_until([&] { return everywhere("redlock:b", token, 0); });
  std::optional<result<void>> released;
  ASSERT_TRUE(locks.release(std::move(**got), [&](result<void> r) { released.emplace(r); }));
  run_until([&] { return released.has_value(); });
  EXPECT_TRUE(*released) << released->message();

  std::optional<result<void>> scoped;
  bool ran = false;
  ASSERT_TRUE(locks.with_lock_all(
      {"a", "b"}, {},
      [&](const lease& held, std::function<void()> finished) {
        ran = held.resources().size() == 2 && !held.lost();
        finished();
      },
      [&](result<void> r) { scoped.emplace(r); }));
  run_until([&] { return scoped.has_value(); });
  EXPECT_TRUE(*scoped) << scoped->message();
  EXPECT_TRUE(ran);
  run_until([&] { return no_keys_left(*fleet, "a") && no_keys_left(*fleet, "b"); });
}

}  // namespace
}  // namespace redlock::testing
