// The quarantine of restarted servers on real redis-server processes: a server restarted
// without persistence has forgotten the keys it granted, and must not vote for the longest
// ttl (plus drift), or it hands a held lock out again; it still gets releases.
#include <gmock/gmock.h>

#include <thread>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr milliseconds max_ttl{2000};

class QuarantineTest : public fleet_test {
 protected:
  client_options quarantined() const {
    client_options o = options_for(*fleet);
    o.quarantine.enabled = true;
    o.quarantine.max_ttl = max_ttl;
    return o;
  }
  // Until every server has been up longer than max_ttl plus drift (uptime_in_seconds counts
  // whole seconds), so that only a restart quarantines one.
  void wait_until_every_server_is_older_than_the_quarantine() {
    auto uptime_of = [&](std::size_t i) {
      std::string info = fleet->command(i, {"INFO", "server"});
      std::size_t at = info.find("uptime_in_seconds:");
      return at == std::string::npos ? 0 : std::stoll(info.substr(at + 18));
    };
    ASSERT_TRUE(eventually(
        [&] {
          for (std::size_t i = 0; i < fleet->size(); ++i)
            if (uptime_of(i) < 3) return false;
          return true;
        },
        seconds(10)));
  }
  static node_health health_of(client& c, std::size_t i) {
    auto h = c.health();
    return h ? (*h)[i] : node_health{};
  }
};

// The holder has a bare majority (nodes 0 and 1); node 1 restarts at once without persistence
// and has forgotten our key. With the quarantine, it does not vote, and the lock is refused;
// without it (the negative twin), a second holder is granted while the first still holds.
TEST_F(QuarantineTest, ARestartedServerDoesNotVoteUntilItsQuarantineEnds) {
  start_fleet(3);
  ASSERT_NO_FATAL_FAILURE(wait_until_every_server_is_older_than_the_quarantine());
  fleet->command(2, {"SET", "redlock:job", "someone-else", "PX", "60000"});
  client holder = make_client(quarantined());
  result<lease> held = holder.acquire("job", ttl_of(max_ttl));
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().granted(), 2u);
  fleet->restart(1);
  fleet->command(2, {"DEL", "redlock:job"});
  ASSERT_EQ(fleet->command(1, {"GET", "redlock:job"}), "(nil)");

  client careful = make_client(quarantined());
  wait_all_connected(careful);
  result<lease> refused = careful.acquire("job", ttl_of(max_ttl));
  ASSERT_FALSE(refused) << "granted while the first holder holds the lock";
  EXPECT_EQ(refused.error(), errc::no_quorum);
  const node_report& restarted = refused.tally().nodes()[1];
  EXPECT_EQ(restarted.error, errc::quarantined);
  EXPECT_THAT(restarted.detail, HasSubstr("it votes again in"));
  EXPECT_GT(health_of(careful, 1).quarantine_left, milliseconds(0));
  EXPECT_THAT(health_of(careful, 1).quarantine_reason, HasSubstr("uptime_in_seconds"));
  EXPECT_EQ(health_of(careful, 0).quarantine_left, milliseconds(0));
  // The lost round's clean-up goes out without holding up the caller: until it has deleted
  // careful's key on node 2, that node would refuse the negative twin too.
  ASSERT_TRUE(eventually([&] { return fleet->command(2, {"GET", "redlock:job"}) == "(nil)"; }));

  client_options off = quarantined();
  off.quarantine.enabled = false;
  client reckless = make_client(off);
  result<lease> twice = reckless.acquire("job", ttl_of(max_ttl));
  ASSERT_TRUE(twice) << "the negative twin: " << twice.message();
  EXPECT_GT(held->valid_until(), std::chrono::steady_clock::now()) << "the overlap to show";
  ASSERT_TRUE(twice->release());

  // Once the quarantine is over, node 1 votes again: it is sent the SET.
  ASSERT_TRUE(eventually([&] { return health_of(careful, 1).quarantine_left == milliseconds(0); }));
  acquire_options later = ttl_of(max_ttl);
  later.wait = milliseconds(10000);  // until the first lease has expired
  result<lease> granted = careful.acquire("job", later);
  ASSERT_TRUE(granted) << granted.message();
  EXPECT_NE(granted.tally().nodes()[1].error, errc::quarantined);
  EXPECT_TRUE(eventually([&] {
    return fleet->command(1, {"GET", "redlock:job"}) == granted->token();
  }));
}

// A server restarted with persistence kept our key: it is quarantined all the same (the client
// cannot tell), and the release still deletes the key there.
TEST_F(QuarantineTest, AQuarantinedServerStillGetsTheRelease) {
  node_options persistent;
  persistent.persistence = true;
  start_fleet(3, persistent);
  ASSERT_NO_FATAL_FAILURE(wait_until_every_server_is_older_than_the_quarantine());
  client holder = make_client(quarantined());
  result<lease> held = holder.acquire("job", ttl_of(max_ttl));
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
  fleet->restart(0);
  ASSERT_EQ(fleet->command(0, {"GET", "redlock:job"}), held->token());
  ASSERT_TRUE(eventually([&] { return health_of(holder, 0).quarantine_left > milliseconds(0); }))
      << "the holder did not reconnect to the restarted server";
  ASSERT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] { return fleet->command(0, {"GET", "redlock:job"}) == "(nil)"; }));
}

}  // namespace
}  // namespace redlock::testing
