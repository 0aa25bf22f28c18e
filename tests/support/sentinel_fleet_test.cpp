// Self-test of the sentinel fleet: the Sentinel integration tests trust it to start groups that
// can fail over at once, to report the failover as the sentinels see it, and to leave nothing
// running, so each of those promises is checked against the real processes here.
#include "sentinel_fleet.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "test_helpers.hpp"

namespace {

namespace rt = redlock::testing;
using std::chrono::milliseconds;
using ::testing::StartsWith;

bool sentinel_test_process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// "127.0.0.1\n<port>": how command() renders a get-master-addr-by-name answer.
std::string rendered_master_address(std::uint16_t port) {
  return "127.0.0.1\n" + std::to_string(port);
}

class SentinelFleetTest : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(rt::redis_unavailable_reason()); }
};

TEST_F(SentinelFleetTest, SentinelsNameEachGroupsMasterAndTheGroupsAreIndependent) {
  rt::sentinel_fleet fleet(2);
  ASSERT_EQ(fleet.size(), 2u);
  EXPECT_EQ(fleet.quorum(), 2u);
  EXPECT_EQ(fleet.urls(), (std::vector<std::string>{fleet.url(0), fleet.url(1)}));
  for (std::size_t g = 0; g < fleet.size(); ++g) {
    SCOPED_TRACE(fleet.master_name(g));
    EXPECT_EQ(fleet.master_name(g), "group" + std::to_string(g + 1));
    const rt::redis_fleet& data = fleet.data_nodes(g);
    const rt::redis_fleet& sentinels = fleet.sentinels(g);
    ASSERT_EQ(data.size(), 2u);
    ASSERT_EQ(sentinels.size(), 3u);
    EXPECT_EQ(fleet.master_port(g), data.port(0));
    EXPECT_EQ(fleet.master_node(g), 0u);
    EXPECT_EQ(fleet.replica_node(g), 1u);
    EXPECT_THROW(fleet.replica_node(g, 1), std::out_of_range);
    EXPECT_EQ(fleet.role(g, 0), "master");
    EXPECT_EQ(fleet.role(g, 1), "slave");
    std::string sentinel_list;
    for (std::size_t s = 0; s < sentinels.size(); ++s) {
      EXPECT_EQ(sentinels.command(s, {"SENTINEL", "get-master-addr-by-name", fleet.master_name(g)}),
                rendered_master_address(data.port(0)));
      sentinel_list += (s > 0 ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(sentinels.port(s));
    }
    EXPECT_EQ(fleet.url(g), "redis+sentinel://" + sentinel_list + "/" + fleet.master_name(g));
    // A write on the master reaches its replica, and only its own.
    ASSERT_EQ(data.command(0, {"SET", "written-in", fleet.master_name(g)}), "OK");
    EXPECT_TRUE(rt::eventually([&] {
      return data.command(1, {"GET", "written-in"}) == fleet.master_name(g);
    }));
  }
  EXPECT_EQ(fleet.sentinels(0).command(0, {"SENTINEL", "get-master-addr-by-name", "group2"}),
            "(nil)");
  EXPECT_NE(fleet.data_nodes(0).port(0), fleet.data_nodes(1).port(0));
}

TEST_F(SentinelFleetTest, KillingTheMasterPromotesTheReplicaAndTheOldMasterRejoinsAsAReplica) {
  rt::sentinel_fleet fleet(1);
  rt::redis_fleet& data = fleet.data_nodes(0);
  const std::uint16_t old_port = fleet.master_port(0);
  EXPECT_EQ(fleet.kill_master(0), 0u);
  EXPECT_FALSE(data.running(0));

  const std::uint16_t new_port = fleet.wait_for_failover(0, old_port);
  EXPECT_EQ(new_port, data.port(1));
  EXPECT_EQ(fleet.role(0, 1), "master");
  const rt::redis_fleet& sentinels = fleet.sentinels(0);
  EXPECT_TRUE(rt::eventually(
      [&] {
        for (std::size_t s = 0; s < sentinels.size(); ++s) {
          if (sentinels.command(s, {"SENTINEL", "get-master-addr-by-name", "group1"}) !=
              rendered_master_address(new_port)) {
            return false;
          }
        }
        return true;
      },
      milliseconds(10000)))
      << "not every sentinel names the promoted replica";
  EXPECT_EQ(fleet.master_node(0), 1u);
  EXPECT_EQ(fleet.replica_node(0), 0u);

  // The old master comes back as a master with its old config; the sentinels make it a
  // replica of the new one at the first INFO they take of it 8 s after they saw it (they take
  // one every 10 s): about 10 s.
  data.restart(0);
  fleet.wait_settled(0);
  EXPECT_EQ(fleet.role(0, 0), "slave");
  EXPECT_EQ(fleet.master_port(0), new_port);
  if (HasFailure()) {
    ADD_FAILURE() << "what the group logged:\n" << fleet.log_tails(0, 40);
  }
}

TEST_F(SentinelFleetTest, WaitCountsTheReplicaOnlyWhileItRuns) {
  rt::sentinel_fleet fleet(1);
  rt::redis_fleet& data = fleet.data_nodes(0);
  // WAIT waits for the writes of its own connection: one connection for both.
  rt::resp_link master(data.port(0), milliseconds(2000));
  ASSERT_EQ(master.call({"SET", "k", "1"}).render(), "OK");
  EXPECT_EQ(master.call({"WAIT", "1", "100"}).integer, 1);

  data.pause(1);
  ASSERT_EQ(master.call({"SET", "k", "2"}).render(), "OK");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(master.call({"WAIT", "1", "100"}).integer, 0);
  EXPECT_GE(rt::since(start), milliseconds(90)) << "WAIT answered before its timeout";

  data.resume(1);
  EXPECT_TRUE(rt::eventually([&] {
    return master.call({"WAIT", "1", "100"}).integer == 1;
  })) << "the resumed replica never acknowledged";
}

TEST_F(SentinelFleetTest, RequirepassReachesTheReplicasTheSentinelsAndTheUrl) {
  rt::sentinel_fleet_options options;
  options.data_nodes.requirepass = "p w@d";
  // Settling proves the replica authenticated to its master (masterauth) and the sentinels to
  // both data nodes (sentinel auth-pass): they read the replica's INFO.
  rt::sentinel_fleet fleet(1, options);
  EXPECT_THAT(fleet.url(0), StartsWith("redis+sentinel://:p%20w%40d@127.0.0.1:"));
  EXPECT_EQ(fleet.role(0, 1), "slave");
  rt::resp_link anonymous(fleet.data_nodes(0).port(0), milliseconds(2000));
  EXPECT_THAT(anonymous.call({"GET", "k"}).str, StartsWith("NOAUTH"));
}

TEST_F(SentinelFleetTest, NoProcessOutlivesTheFleetNorItsDir) {
  std::vector<pid_t> pids;
  std::string dir;
  {
    rt::sentinel_fleet fleet(1);
    dir = fleet.dir();
    for (rt::redis_fleet* processes : {&fleet.data_nodes(0), &fleet.sentinels(0)}) {
      for (std::size_t i = 0; i < processes->size(); ++i) {
        pids.push_back(processes->pid(i));
      }
    }
    // Stopped processes are stopped too.
    fleet.data_nodes(0).pause(1);
    fleet.sentinels(0).pause(2);
    EXPECT_TRUE(std::filesystem::is_directory(dir + "/group1/data/node0"));
    EXPECT_TRUE(std::filesystem::is_directory(dir + "/group1/sentinels/node2"));
  }
  ASSERT_EQ(pids.size(), 5u);
  for (const pid_t pid : pids) {
    EXPECT_GT(pid, 0);
    EXPECT_FALSE(sentinel_test_process_exists(pid)) << "pid " << pid;
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(SentinelFleetTest, RefusedOptionsStartNothing) {
  EXPECT_THROW(rt::sentinel_fleet none(0), std::invalid_argument);
  rt::sentinel_fleet_options no_sentinels;
  no_sentinels.sentinels = 0;
  EXPECT_THROW(rt::sentinel_fleet fleet(1, no_sentinels), std::invalid_argument);
  rt::sentinel_fleet_options placed;
  placed.data_nodes.dir = "/tmp/somewhere";
  EXPECT_THROW(rt::sentinel_fleet fleet(1, placed), std::invalid_argument);
}

}  // namespace
