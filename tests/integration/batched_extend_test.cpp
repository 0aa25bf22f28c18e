// Batched auto-extension on real servers: many leases granted together stay held over several
// ttls with about one extend_many.lua call per node per batch (INFO commandstats), not one
// call per lease, and a lease whose key was deleted by hand is the only one lost.
#include <gmock/gmock.h>

#include <string>
#include <thread>
#include <vector>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class BatchedExtendTest : public fleet_test {
 protected:
  // EVALSHA and EVAL calls node `i` served since its last CONFIG RESETSTAT.
  long long script_calls(std::size_t i) const {
    std::string stats = fleet->command(i, {"INFO", "commandstats"});
    long long total = 0;
    for (std::string name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
      auto at = stats.find(name);
      if (at != std::string::npos) total += std::stoll(stats.substr(at + name.size()));
    }
    return total;
  }
};

TEST_F(BatchedExtendTest, ThousandsOfLeasesStayHeldWithAFewScriptCallsPerNode) {
  start_fleet(3);
  client locks = make_client();
  ASSERT_TRUE(locks.wait_ready(milliseconds(10000)));
  constexpr std::size_t count = 2000;
  acquire_options o = ttl_of(milliseconds(1500));
  o.auto_extend.enabled = true;
  std::vector<lease> held;
  held.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    result<lease> l = locks.acquire("batch" + std::to_string(k), o);
    ASSERT_TRUE(l) << l.message();
    held.push_back(std::move(*l));
  }
  for (std::size_t i = 0; i < fleet->size(); ++i)
    ASSERT_EQ(fleet->command(i, {"CONFIG", "RESETSTAT"}), "OK");
  // One lease's key gone by hand everywhere: its next extension is refused.
  for (std::size_t i = 0; i < fleet->size(); ++i)
    fleet->command(i, {"DEL", "redlock:batch7"});

  // Three ttls: every lease is extended about six times (extend_at 0.5).
  auto until = steady_clock::now() + 3 * o.ttl;
  while (steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(50));

  EXPECT_TRUE(held[7].lost());
  for (std::size_t k = 0; k < count; ++k) {
    if (k == 7) continue;
    ASSERT_FALSE(held[k].lost()) << "lease " << k << ": "
                                 << (held[k].lost_reason() ? held[k].lost_reason()->message : "");
  }
  ASSERT_TRUE(held[7].lost_reason());
  EXPECT_EQ(held[7].lost_reason()->why, lease_lost::cause::refused);
  // Per lease that would be about 6 * 2000 calls per node; batched, one per batch (a grid
  // step of 30 ms over however long the grants took).
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    long long calls = script_calls(i);
    EXPECT_GT(calls, 0) << "node " << i;
    RecordProperty("script_calls_node" + std::to_string(i), std::to_string(calls));
    EXPECT_LT(calls, static_cast<long long>(6 * count / 20)) << "node " << i;
  }
  for (std::size_t k = 0; k < count; ++k) {
    if (k == 7) continue;
    EXPECT_EQ(fleet->command(0, {"GET", "redlock:batch" + std::to_string(k)}), held[k].token());
  }
}

}  // namespace
}  // namespace redlock::testing
