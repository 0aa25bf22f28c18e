// Servers whose settings can lose our keys other than by a restart, on real redis-server
// processes configured that way: each is named in health (key_loss_risks) and does not vote
// (errc::unsafe_server) unless client_options::risky_nodes_vote.
#include <gmock/gmock.h>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class KeyLossRiskTest : public fleet_test {
 protected:
  // Acquires on `endpoints`, where the last one is the risky server: refused its vote by
  // default with `setting` named, given it with risky_nodes_vote.
  void expect_refused_then_allowed(std::vector<std::string> endpoints, const std::string& setting) {
    client_options o = options_for(*fleet);
    o.endpoints = endpoints;
    client careful = make_client(o);
    wait_all_connected(careful);
    auto h = careful.health();
    ASSERT_TRUE(h);
    EXPECT_THAT((*h)[0].key_loss_risks, IsEmpty());
    ASSERT_EQ((*h)[2].key_loss_risks.size(), 1u);
    EXPECT_THAT((*h)[2].key_loss_risks[0], HasSubstr(setting));
    result<lease> held = careful.acquire("job");
    ASSERT_TRUE(held) << held.message();
    const node_report& risky = held.tally().nodes()[2];
    EXPECT_EQ(risky.vote, vote::failed);
    EXPECT_EQ(risky.error, errc::unsafe_server);
    EXPECT_THAT(risky.detail, HasSubstr(setting));
    ASSERT_TRUE(held->release());

    o.risky_nodes_vote = true;
    client allowing = make_client(o);
    wait_all_connected(allowing);
    result<lease> again = allowing.acquire("job");
    ASSERT_TRUE(again) << again.message();
    // Asked this time (an excluded node is reported at the round's start): what it answered
    // depends on the setting (a replica says READONLY).
    EXPECT_NE(again.tally().nodes()[2].error, errc::unsafe_server);
  }
};

TEST_F(KeyLossRiskTest, AnEvictingMaxmemoryPolicy) {
  start_fleet(3);
  EXPECT_EQ(fleet->command(2, {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}), "OK");
  expect_refused_then_allowed(fleet->urls(), "maxmemory_policy is allkeys-lru");
}

TEST_F(KeyLossRiskTest, AReplica) {
  start_fleet(3);
  EXPECT_EQ(fleet->command(2, {"REPLICAOF", "127.0.0.1", std::to_string(fleet->port(0))}), "OK");
  expect_refused_then_allowed(fleet->urls(), "role is slave");
}

TEST_F(KeyLossRiskTest, AClusterNode) {
  start_fleet(2);
  node_options clustered;
  clustered.extra_config = {"cluster-enabled yes"};
  redis_fleet cluster(1, clustered);
  std::vector<std::string> endpoints = fleet->urls();
  endpoints.push_back(cluster.url(0));
  expect_refused_then_allowed(endpoints, "cluster_enabled is 1");
}

}  // namespace
}  // namespace redlock::testing
