#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "node_link.hpp"

namespace redlock::detail {
namespace {

TEST(ServerInfo, ReadsRunIdVersionAndUptime) {
  server_info s = parse_server_info(
      "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"
      "run_id:8d3ac6f0b4b5e3a4b0c1d2e3f4a5b6c7d8e9f0a1\r\nuptime_in_seconds:42\r\n");
  EXPECT_EQ(s.redis_version, "7.0.15");
  EXPECT_EQ(s.run_id, "8d3ac6f0b4b5e3a4b0c1d2e3f4a5b6c7d8e9f0a1");
  EXPECT_EQ(s.uptime, std::chrono::seconds(42));
}

// master_replid (not master_replid2, the one before a promotion): part of the seeded mark.
TEST(ServerInfo, ReadsTheReplicationId) {
  server_info s = parse_server_info(
      "# Replication\r\nrole:master\r\nmaster_replid:7f1e\r\nmaster_replid2:0000\r\n");
  EXPECT_EQ(s.replication_id, "7f1e");
}

// A master with noeviction outside a Cluster loses no key but by a restart: no risk named.
TEST(ServerInfo, AnIndependentNonEvictingMasterHasNoKeyLossRisk) {
  server_info s = parse_server_info(
      "# Server\r\nrun_id:a\r\n# Memory\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n"
      "# Replication\r\nrole:master\r\n# Cluster\r\ncluster_enabled:0\r\n");
  EXPECT_TRUE(s.key_loss_risks.empty());
}

TEST(ServerInfo, NamesEachSettingThatCanLoseKeys) {
  server_info s = parse_server_info(
      "# Memory\r\nmaxmemory_policy:volatile-lru\r\n# Replication\r\nrole:slave\r\n"
      "# Cluster\r\ncluster_enabled:1\r\n");
  ASSERT_EQ(s.key_loss_risks.size(), 3u);
  EXPECT_THAT(s.key_loss_risks[0], ::testing::HasSubstr("maxmemory_policy is volatile-lru"));
  EXPECT_THAT(s.key_loss_risks[1], ::testing::HasSubstr("role is slave"));
  EXPECT_THAT(s.key_loss_risks[2], ::testing::HasSubstr("cluster_enabled is 1"));
}

TEST(ServerInfo, MissingOrMalformedFieldsStayEmpty) {
  server_info s = parse_server_info("uptime_in_seconds:abc\nrun_id\n:x\n");
  EXPECT_EQ(s.run_id, "");
  EXPECT_EQ(s.uptime, std::chrono::seconds(0));
  EXPECT_EQ(parse_server_info("").run_id, "");
}

}  // namespace
}  // namespace redlock::detail
