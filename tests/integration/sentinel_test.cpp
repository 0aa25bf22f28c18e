// Sentinel groups as voters (redis+sentinel://) on real processes: per group a master, a
// replica and three sentinels (tests/support/sentinel_fleet.hpp). A master that granted our key
// is killed and its replica promoted: with replica-acknowledged votes the lock is still held on
// the promoted replica, and without them (the negative control) a second client wins it while
// the first still holds. The client follows every failover without a restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redlock/client.hpp"
#include "sentinel_fleet.hpp"
#include "test_helpers.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

class SentinelTest : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(redis_unavailable_reason()); }

  // The quarantine is off: a fleet started just now would sit it out (its servers' uptime),
  // longer than the failovers take. What it does with a promotion is unit-tested
  // (quarantine_test.cpp); a new client cannot tell a promotion anyway (docs/safety.md).
  static client_options options_for(const sentinel_fleet& fleet, int acknowledging_replicas) {
    client_options o;
    o.endpoints = fleet.urls();
    o.node_timeout = milliseconds(200);  // the WAIT gets half of it
    o.replica_ack.replicas = acknowledging_replicas;
    o.quarantine.enabled = false;
    return o;
  }
  static client make_client(client_options o) {
    auto c = client::create(std::move(o));
    EXPECT_TRUE(c) << c.message();
    return std::move(*c);
  }
  static acquire_options lasting() {
    acquire_options a;
    a.ttl = seconds(60);   // outlives the failovers
    a.wait = seconds(10);  // the first connects
    return a;
  }
  static std::string address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
  // Until the master of group g has our key (a grant that came after the round's decision).
  static void wait_for_key_on_master(const sentinel_fleet& fleet, std::size_t g) {
    std::size_t master = fleet.master_node(g);
    ASSERT_TRUE(eventually([&] { return !fleet.data_nodes(g).keys(master, "redlock:job").empty(); },
                           seconds(5)))
        << "group " << g << "'s master never got our key";
  }
  // The seeded mark that names group g's master (its run_id and master_replid).
  static std::string seeded_mark(const sentinel_fleet& fleet, std::size_t g) {
    std::string info = fleet.data_nodes(g).command(fleet.master_node(g), {"INFO"});
    auto field = [&](const std::string& name) {
      std::size_t at = info.find("\n" + name + ":");
      if (at == std::string::npos) return std::string();
      at += name.size() + 2;
      return info.substr(at, info.find_first_of("\r\n", at) - at);
    };
    return field("run_id") + "/" + field("master_replid");
  }
  // Kills the masters of groups 0 and 1 at once and waits until their replicas are the masters;
  // returns the new masters' ports.
  static std::vector<std::uint16_t> fail_over_two(sentinel_fleet& fleet,
                                                  bool resume_replicas = false) {
    std::vector<std::uint16_t> old_ports, new_ports;
    for (std::size_t g : {0u, 1u}) {
      std::size_t replica = fleet.replica_node(g);
      old_ports.push_back(fleet.master_port(g));
      fleet.kill_master(g);
      if (resume_replicas) fleet.data_nodes(g).resume(replica);
    }
    for (std::size_t g : {0u, 1u})
      new_ports.push_back(fleet.wait_for_failover(g, old_ports[g]));
    return new_ports;
  }
};

TEST_F(SentinelTest, AnAcknowledgedLockOutlivesPromotionsAndTheClientFollowsThem) {
  sentinel_fleet fleet(3);
  client holder = make_client(options_for(fleet, 1));
  result<lease> held = holder.acquire("job", lasting());
  ASSERT_TRUE(held) << held.message();
  for (const node_report& n : held.tally().nodes()) {
    if (n.vote == vote::granted) {
      EXPECT_EQ(n.detail, "WAIT 1 100: 1 of 1 replicas acknowledged");
    }
  }
  auto before = holder.health();
  ASSERT_TRUE(before);
  EXPECT_EQ((*before)[0].master, address(fleet.master_port(0)));
  for (std::size_t g : {0u, 1u})
    ASSERT_NO_FATAL_FAILURE(wait_for_key_on_master(fleet, g));

  // A fenced lock before the failovers: every master is seeded (a fresh fleet), and the
  // write-back of the number reaches the replicas.
  acquire_options fenced = lasting();
  fenced.fencing = true;
  result<lease> numbered = holder.acquire("numbers", fenced);
  ASSERT_TRUE(numbered) << numbered.message();
  const std::uint64_t before_failovers = *numbered->fence();
  ASSERT_TRUE(numbered->release());

  // Two of three masters die right after the grant; their replicas are promoted.
  const std::vector<std::uint16_t> promoted = fail_over_two(fleet);

  // A new client finds the lock on the promoted replicas.
  client rival = make_client(options_for(fleet, 1));
  acquire_options once = lasting();
  once.wait = seconds(3);
  result<lease> second = rival.acquire("job", once);
  ASSERT_FALSE(second) << "a second holder while the first still holds";
  EXPECT_EQ(second.error(), errc::held_elsewhere) << second.message();

  // The holder follows the failovers, with no restart, and still holds on the promoted
  // replicas.
  EXPECT_TRUE(eventually(
      [&] {
        auto h = holder.health();
        return h && (*h)[0].master == address(promoted[0]) &&
               (*h)[1].master == address(promoted[1]) && (*h)[0].state == node_state::connected &&
               (*h)[1].state == node_state::connected;
      },
      seconds(10)))
      << "the health does not show the new masters " << promoted[0] << ", " << promoted[1];
  result<ownership> still = held->check_ownership();
  ASSERT_TRUE(still) << still.message();
  ASSERT_TRUE(held->release());

  // The promoted replicas carry their old masters' seeded mark: their first fenced grants do
  // not count, and they are seeded before they do (fence_seeder.hpp); the numbers go on. (A
  // client without acknowledgement: the promoted replicas have no replicas of their own.)
  client unacknowledged = make_client(options_for(fleet, 0));
  numbered = unacknowledged.acquire("numbers", fenced);
  ASSERT_TRUE(numbered) << numbered.message();
  EXPECT_GT(*numbered->fence(), before_failovers);
  for (std::size_t g : {0u, 1u}) {
    EXPECT_EQ(fleet.data_nodes(g).command(fleet.master_node(g), {"HGET", "redlock:", ""}),
              seeded_mark(fleet, g))
        << "group " << g << "'s promoted replica was not seeded";
  }
  ASSERT_TRUE(numbered->release());
}

// The negative control: without acknowledgement, a master that granted our key and died before
// its replica had it is replaced by a replica that never saw it, and a new client wins the lock
// the first client still holds. To make "before its replica had it" certain, the replica is
// paused and its link cut by the master (a paused replica would still find the write in its
// socket's buffer when it resumes).
TEST_F(SentinelTest, NegativeControlWithoutAcknowledgementAPromotionHandsTheLockOutTwice) {
  sentinel_fleet fleet(3);
  client holder = make_client(options_for(fleet, 0));
  for (std::size_t g : {0u, 1u}) {
    fleet.data_nodes(g).pause(fleet.replica_node(g));
    EXPECT_EQ(
        fleet.data_nodes(g).command(fleet.master_node(g), {"CLIENT", "KILL", "TYPE", "replica"}),
        "1");
  }
  result<lease> held = holder.acquire("job", lasting());
  ASSERT_TRUE(held) << held.message();
  for (std::size_t g : {0u, 1u})
    ASSERT_NO_FATAL_FAILURE(wait_for_key_on_master(fleet, g));
  fail_over_two(fleet, true);

  client rival = make_client(options_for(fleet, 0));
  result<lease> second = rival.acquire("job", lasting());
  ASSERT_TRUE(second) << "the hole did not show: " << second.message();
  EXPECT_GT(held->valid_until(), std::chrono::steady_clock::now())
      << "the first lease had ended: no overlap";
}

TEST_F(SentinelTest, APausedReplicaFailsItsGroupsVoteWithinTheNodeTimeout) {
  sentinel_fleet fleet(3);
  client locks = make_client(options_for(fleet, 1));
  fleet.data_nodes(0).pause(fleet.replica_node(0));
  acquire_options a = lasting();
  a.ttl = seconds(10);
  result<lease> held = locks.acquire("job", a);
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().granted(), 2u);
  EXPECT_NE(held.tally().nodes()[0].vote, vote::granted);
  ASSERT_TRUE(held->release());

  // Two groups cannot replicate: no majority. Their votes fail with not_replicated, not
  // node_timeout: the WAIT answered within half the node timeout. (The decision comes at the
  // second failed vote, so under load another node's failure may decide it first: at least one
  // of the two is in the tally then, and neither granted.)
  fleet.data_nodes(1).pause(fleet.replica_node(1));
  a.wait = milliseconds(0);
  result<lease> refused = locks.acquire("job", a);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::no_quorum) << refused.message();
  std::size_t unreplicated = 0;
  for (std::size_t g : {0u, 1u}) {
    const node_report& report = refused.tally().nodes()[g];
    EXPECT_NE(report.vote, vote::granted) << refused.message();
    if (report.error != errc::not_replicated) continue;
    ++unreplicated;
    EXPECT_EQ(report.detail, "WAIT 1 100: only 0 of 1 replicas acknowledged");
  }
  EXPECT_GE(unreplicated, 1u) << refused.message();
  // The two masters that set our key without the replicas' acknowledgement got its release.
  for (std::size_t g : {0u, 1u}) {
    std::size_t master = fleet.master_node(g);
    EXPECT_TRUE(eventually([&] { return fleet.data_nodes(g).keys(master, "redlock:*").empty(); },
                           seconds(5)))
        << "group " << g << " keeps our key";
  }
  for (std::size_t g : {0u, 1u})
    fleet.data_nodes(g).resume(fleet.replica_node(g));
}

// The URL's password is the master's: the client authenticates to whichever server the
// sentinels name, and a wrong one is refused for good (misconfigured), naming the server's words.
TEST_F(SentinelTest, TheGroupsPasswordReachesItsMaster) {
  sentinel_fleet_options with_password;
  with_password.data_nodes.requirepass = "s3cret";
  sentinel_fleet fleet(1, with_password);
  client locks = make_client(options_for(fleet, 1));
  acquire_options a = lasting();
  a.ttl = seconds(5);
  result<lease> held = locks.acquire("job", a);
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(held->release());

  client_options wrong = options_for(fleet, 1);
  const std::string url = fleet.url(0);
  wrong.endpoints = {"redis+sentinel://:wrong@" + url.substr(url.find('@') + 1)};
  client refused_client = make_client(wrong);
  result<lease> refused = refused_client.acquire("job", a);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::misconfigured) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("WRONGPASS"));
  EXPECT_EQ(refused.message().find("wrong@"), std::string::npos) << "the password shows";
}

// Sentinels with a password of their own (client_options::sentinel_password): asked with it,
// the group votes; without it, no sentinel names a master and the error says why.
TEST_F(SentinelTest, SentinelsWithTheirOwnPasswordAreAskedWithIt) {
  sentinel_fleet_options guarded;
  guarded.sentinel_password = "sentinels-only";
  sentinel_fleet fleet(1, guarded);
  client_options o = options_for(fleet, 1);
  o.sentinel_password = "sentinels-only";
  client locks = make_client(o);
  acquire_options a = lasting();
  a.ttl = seconds(5);
  result<lease> held = locks.acquire("job", a);
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(held->release());

  client anonymous = make_client(options_for(fleet, 1));
  a.wait = seconds(1);
  result<lease> refused = anonymous.acquire("job", a);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.message(), HasSubstr("no sentinel named a master")) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("NOAUTH")) << refused.message();
  EXPECT_EQ(refused.message().find("sentinels-only"), std::string::npos);
}

// The quarantine across a promotion (docs/safety.md): a client with acknowledgement on lets the
// promoted replica vote at once (it has every key the group's votes counted), one without keeps
// it out for max_ttl as a new server (its run_id is new to the endpoint).
TEST_F(SentinelTest, APromotionIsQuarantinedOnlyWithoutAcknowledgement) {
  sentinel_fleet fleet(1);
  auto quarantined = [&](int acknowledging_replicas) {
    client_options o = options_for(fleet, acknowledging_replicas);
    o.quarantine.enabled = true;
    o.quarantine.max_ttl = milliseconds(2000);
    return make_client(o);
  };
  // Up longer than max_ttl plus drift (whole seconds), so that only the new run_id counts.
  ASSERT_TRUE(eventually(
      [&] {
        for (std::size_t i = 0; i < fleet.data_nodes(0).size(); ++i) {
          const std::string info = fleet.data_nodes(0).command(i, {"INFO", "server"});
          const std::size_t at = info.find("uptime_in_seconds:");
          if (at == std::string::npos || std::stoll(info.substr(at + 18)) < 3) return false;
        }
        return true;
      },
      seconds(10)));
  client acknowledged = quarantined(1);
  client unacknowledged = quarantined(0);
  for (client* c : {&acknowledged, &unacknowledged}) {
    acquire_options a = lasting();
    a.ttl = milliseconds(1000);
    result<lease> held = c->acquire("job", a);
    ASSERT_TRUE(held) << held.message();  // not quarantined: the servers are old enough
    ASSERT_TRUE(held->release());
  }
  const std::uint16_t old_master = fleet.master_port(0);
  fleet.kill_master(0);
  const std::uint16_t promoted = fleet.wait_for_failover(0, old_master);
  auto on_promoted = [&](client& c) {
    auto h = c.health();
    return h && (*h)[0].master == address(promoted) && (*h)[0].state == node_state::connected;
  };
  ASSERT_TRUE(eventually([&] { return on_promoted(acknowledged) && on_promoted(unacknowledged); },
                         seconds(10)));
  EXPECT_EQ((*acknowledged.health())[0].quarantine_left, milliseconds(0))
      << (*acknowledged.health())[0].quarantine_reason;
  const node_health later = (*unacknowledged.health())[0];
  EXPECT_GT(later.quarantine_left, milliseconds(0));
  EXPECT_THAT(later.quarantine_reason, HasSubstr("the endpoint reached a new server"));
}

// A TLS group (rediss+sentinel://): the client asks the sentinels over TLS, reaches the master
// on its TLS port, waits for the replica (which replicates over TLS), and follows a failover
// to the promoted replica, where the acknowledged lock still holds.
TEST_F(SentinelTest, ATlsGroupKeepsAnAcknowledgedLockAcrossAFailover) {
  sentinel_fleet_options secure;
  secure.data_nodes.tls = true;
  sentinel_fleet fleet(1, secure);
  ASSERT_EQ(fleet.url(0).rfind("rediss+sentinel://", 0), 0u) << fleet.url(0);
  client_options o = options_for(fleet, 1);
  o.tls.ca_file = fleet.certs().ca_cert;
  client holder = make_client(o);
  result<lease> held = holder.acquire("job", lasting());
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().nodes()[0].detail, "WAIT 1 100: 1 of 1 replicas acknowledged");
  const std::uint16_t old_master = fleet.master_port(0);
  EXPECT_EQ(old_master, fleet.data_port(0, fleet.master_node(0)));  // the TLS port
  ASSERT_NO_FATAL_FAILURE(wait_for_key_on_master(fleet, 0));

  fleet.kill_master(0);
  const std::uint16_t promoted = fleet.wait_for_failover(0, old_master);
  EXPECT_TRUE(eventually(
      [&] {
        auto h = holder.health();
        return h && (*h)[0].master == address(promoted) && (*h)[0].state == node_state::connected;
      },
      seconds(10)))
      << "the health does not show the new master " << promoted;
  client rival = make_client(o);
  acquire_options once = lasting();
  once.wait = seconds(1);
  result<lease> second = rival.acquire("job", once);
  ASSERT_FALSE(second) << "a second holder while the first still holds";
  EXPECT_EQ(second.error(), errc::held_elsewhere) << second.message();
  result<ownership> still = held->check_ownership();
  ASSERT_TRUE(still) << still.message();
  ASSERT_TRUE(held->release());
}

}  // namespace
}  // namespace redlock::testing
