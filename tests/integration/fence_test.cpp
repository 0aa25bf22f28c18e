// Fencing tokens on real redis-server fleets: the numbers increase across holders, a stale
// holder's number is smaller (and a protected resource that checks it refuses the stale
// holder), the numbers keep increasing across a restart of one node with persistence, and a
// node restarted without its data is seeded from the others before it counts again.
#include <gmock/gmock.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

acquire_options fenced(milliseconds ttl = milliseconds(10000), milliseconds wait = {}) {
  acquire_options o;
  o.ttl = ttl;
  o.wait = wait;
  o.fencing = true;
  return o;
}

// The protected resource of docs/safety.md: it remembers the largest fence it accepted and
// refuses every write that carries a smaller one.
class fenced_store {
 public:
  bool write(std::uint64_t fence, std::string value) {
    if (fence < highest_) return false;
    highest_ = fence;
    value_ = std::move(value);
    return true;
  }
  const std::string& value() const { return value_; }

 private:
  std::uint64_t highest_ = 0;
  std::string value_;
};

class FencingTest : public fleet_test {};

TEST_F(FencingTest, NumbersIncreaseAcrossHolders) {
  start_fleet(3);
  client first = make_client();
  client second = make_client();
  std::uint64_t last = 0;
  for (int i = 0; i < 6; ++i) {
    client& locks = i % 2 == 0 ? first : second;
    result<lease> held = locks.acquire("job", fenced());
    ASSERT_TRUE(held) << held.message();
    ASSERT_TRUE(held->fence().has_value());
    EXPECT_GT(*held->fence(), last) << "holder " << i;
    last = *held->fence();
    ASSERT_TRUE(held->release());
  }
  // A plain acquire in between carries no number and leaves the stored one alone.
  result<lease> plain = first.acquire("job");
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_FALSE(plain->fence().has_value());
  ASSERT_TRUE(plain->release());
  result<lease> next = second.acquire("job", fenced());
  ASSERT_TRUE(next) << next.message();
  EXPECT_GT(next->fence().value_or(0), last);
  std::string stored = std::to_string(next->fence().value_or(0));
  // The number lives on after the lock's release, in the hash at the key prefix.
  ASSERT_TRUE(next->release());
  int storing = 0;
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    if (fleet->command(i, {"HGET", "redlock:", "job"}) != stored) continue;  // not asked
    ++storing;
    EXPECT_EQ(fleet->command(i, {"TTL", "redlock:"}), "-1") << "node " << i;  // no expiry
  }
  EXPECT_GE(storing, 2);  // a majority
}

TEST_F(FencingTest, AStaleHoldersNumberIsSmallerAndTheProtectedResourceRefusesIt) {
  start_fleet(3);
  client stale_client = make_client();
  client fresh_client = make_client();
  fenced_store store;
  // The first holder takes a short lock and stops (a long pause): it never releases.
  result<lease> stale = stale_client.acquire("job", fenced(milliseconds(1000)));
  ASSERT_TRUE(stale) << stale.message();
  ASSERT_TRUE(store.write(*stale->fence(), "from the first holder"));
  // The next holder gets the lock once the first one's keys expired.
  result<lease> fresh =
      fresh_client.acquire("job", fenced(milliseconds(10000), milliseconds(5000)));
  ASSERT_TRUE(fresh) << fresh.message();
  EXPECT_TRUE(stale->lost());
  EXPECT_LT(*stale->fence(), *fresh->fence());
  ASSERT_TRUE(store.write(*fresh->fence(), "from the second holder"));
  // The first holder wakes up and writes with its old number: refused.
  EXPECT_FALSE(store.write(*stale->fence(), "stale write"));
  EXPECT_EQ(store.value(), "from the second holder");
}

// The restarted node is the only one of the next majority that carries the newest number:
// the other member of that majority was down while it was handed out. So the number goes on
// increasing only if the restarted node kept it (appendfsync always), and with it the seeded
// mark: neither restarted node needs seeding.
TEST_F(FencingTest, NumbersKeepIncreasingAcrossARestartOfOneNodeWithPersistence) {
  node_options n;
  n.persistence = true;
  start_fleet(3, n);
  client locks = make_client();
  result<lease> first = locks.acquire("job", fenced(milliseconds(10000), milliseconds(5000)));
  ASSERT_TRUE(first) << first.message();  // a fresh fleet: every node is seeded first
  std::uint64_t last = *first->fence();
  ASSERT_TRUE(first->release());
  fleet->kill(2);
  for (int i = 0; i < 3; ++i) {
    result<lease> held = locks.acquire("job", fenced(milliseconds(10000), milliseconds(5000)));
    ASSERT_TRUE(held) << held.message();
    EXPECT_GT(*held->fence(), last);
    last = *held->fence();
    ASSERT_TRUE(held->release());
  }
  fleet->restart(2);
  ASSERT_NE(fleet->command(2, {"HGET", "redlock:", "job"}), std::to_string(last));
  fleet->restart(0);
  ASSERT_EQ(fleet->command(0, {"HGET", "redlock:", "job"}), std::to_string(last));
  ASSERT_EQ(fleet->command(0, {"HEXISTS", "redlock:", ""}), "1");  // the seeded mark
  fleet->kill(1);                                                  // the next majority is {0, 2}
  result<lease> after = locks.acquire("job", fenced(milliseconds(10000), milliseconds(10000)));
  ASSERT_TRUE(after) << after.message();
  EXPECT_GT(*after->fence(), last);
  EXPECT_EQ(fleet->command(2, {"HGET", "redlock:", "job"}), std::to_string(*after->fence()));
}

// docs/safety.md, "A node that restarts without persistence": node 0 forgets a number that
// only it and node 1 stored. It answers UNSEEDED, and it is seeded from both other nodes
// before it counts again; while node 1 cannot be read, the acquire fails rather than let the
// majority {0, 2}, which has never seen the number, hand out a smaller one.
TEST_F(FencingTest, ANodeRestartedWithoutItsDataIsSeededFromTheOthersBeforeItVotes) {
  start_fleet(3);
  client locks = make_client();
  result<lease> first = locks.acquire("job", fenced(milliseconds(10000), milliseconds(5000)));
  ASSERT_TRUE(first) << first.message();
  ASSERT_TRUE(first->release());
  fleet->pause(2);
  result<lease> a = locks.acquire("job", fenced(milliseconds(10000), milliseconds(5000)));
  ASSERT_TRUE(a) << a.message();
  std::uint64_t a_fence = *a->fence();
  ASSERT_TRUE(a->release());
  fleet->resume(2);
  ASSERT_NE(fleet->command(2, {"HGET", "redlock:", "job"}), std::to_string(a_fence));
  fleet->restart(0);  // no persistence: empty, and no mark
  ASSERT_EQ(fleet->command(0, {"HEXISTS", "redlock:", ""}), "0");
  wait_all_connected(locks);
  fleet->pause(1);
  result<lease> blocked = locks.acquire("job", fenced(milliseconds(10000), milliseconds(300)));
  ASSERT_FALSE(blocked) << "granted fence " << *blocked->fence() << " after " << a_fence;
  EXPECT_EQ(blocked.error(), errc::no_quorum);
  EXPECT_THAT(blocked.message(), HasSubstr("UNSEEDED"));
  EXPECT_THAT(blocked.message(), HasSubstr("could not be seeded: only 1 of the 2 other nodes"));
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:job"}), "0");  // nothing set there
  EXPECT_EQ(fleet->command(0, {"HEXISTS", "redlock:", ""}), "0");
  fleet->resume(1);
  result<lease> b = locks.acquire("job", fenced(milliseconds(10000), milliseconds(10000)));
  ASSERT_TRUE(b) << b.message();
  EXPECT_GT(*b->fence(), a_fence);
  ASSERT_TRUE(b->release());
  // Node 0 is seeded at a later fenced acquire (a failed seeding waits out the retry delay),
  // and then holds at least the number it forgot.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fleet->command(0, {"HEXISTS", "redlock:", ""}) != "1" &&
         std::chrono::steady_clock::now() < deadline) {
    result<lease> again = locks.acquire("job", fenced(milliseconds(10000), milliseconds(1000)));
    ASSERT_TRUE(again) << again.message();
    ASSERT_TRUE(again->release());
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(fleet->command(0, {"HEXISTS", "redlock:", ""}), "1");
  EXPECT_GE(std::stoull(fleet->command(0, {"HGET", "redlock:", "job"})), a_fence);
}

// A stored fence at 2^64-1 (only a hand could put it there) is refused, not wrapped to 0;
// one that is not a number fails that node's vote before its SET runs (no key left there).
TEST_F(FencingTest, AnExhaustedOrGarbledStoredFenceIsRefusedClearly) {
  start_fleet(3);
  client locks = make_client();
  for (std::size_t i = 0; i < fleet->size(); ++i)
    ASSERT_EQ(fleet->command(i, {"HSET", "redlock:", "full", "18446744073709551615"}), "1");
  result<lease> full = locks.acquire("full", fenced());
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), errc::fence_exhausted) << full.message();
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "full"); }));

  for (std::size_t i = 0; i < fleet->size(); ++i)
    ASSERT_EQ(fleet->command(i, {"HSET", "redlock:", "garbled", "12x"}), "1");
  result<lease> garbled = locks.acquire("garbled", fenced());
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error(), errc::no_quorum);
  EXPECT_THAT(garbled.message(), HasSubstr("not a 64-bit number"));
  EXPECT_TRUE(keys_gone_soon(*fleet, "garbled"));
}

}  // namespace
}  // namespace redlock::testing
