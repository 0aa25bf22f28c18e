// Nodes that answer with an error reply: each counts as a failed vote with the server's words
// in the tally, never as a crash or a granted vote. Every error comes from a real server put
// in the state that produces it.
#include <gmock/gmock.h>

#include <atomic>
#include <thread>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class ErrorReplyTest : public fleet_test {
 protected:
  // The first failed node's reason and detail in one acquire's tally ("" if none failed).
  std::string failure_detail(client& locks, const std::string& resource) {
    result<lease> held = locks.acquire(resource);
    for (const node_report& r : held.tally().nodes()) {
      if (r.vote == vote::failed) return r.error.message() + ": " + r.detail;
    }
    return "";
  }
};

TEST_F(ErrorReplyTest, ReadonlyReplica) {
  start_fleet(2);
  ASSERT_EQ(fleet->command(0, {"REPLICAOF", "127.0.0.1", std::to_string(fleet->port(1))}), "OK");
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0)};
  o.risky_nodes_vote = true;  // to reach the replica's own answer (KeyLossRiskTest.AReplica)
  client locks = make_client(o);
  std::string detail = failure_detail(locks, "job");
  EXPECT_THAT(detail, HasSubstr("node answered with an error"));
  EXPECT_THAT(detail, HasSubstr("READONLY"));
}

TEST_F(ErrorReplyTest, MasterdownReplicaOfADeadMaster) {
  start_fleet(2);
  fleet->kill(1);
  ASSERT_EQ(fleet->command(0, {"CONFIG", "SET", "replica-serve-stale-data", "no"}), "OK");
  ASSERT_EQ(fleet->command(0, {"REPLICAOF", "127.0.0.1", std::to_string(fleet->port(1))}), "OK");
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0)};
  o.risky_nodes_vote = true;  // to reach the replica's own answer
  client locks = make_client(o);
  EXPECT_THAT(failure_detail(locks, "job"), HasSubstr("MASTERDOWN"));
}

TEST_F(ErrorReplyTest, OutOfMemory) {
  start_fleet(1);
  ASSERT_EQ(fleet->command(0, {"CONFIG", "SET", "maxmemory", "1"}), "OK");
  client locks = make_client();
  EXPECT_THAT(failure_detail(locks, "job"), HasSubstr("OOM"));
}

TEST_F(ErrorReplyTest, BusyScript) {
  start_fleet(1);
  ASSERT_EQ(fleet->command(0, {"CONFIG", "SET", "busy-reply-threshold", "20"}), "OK");
  client locks = make_client();
  ASSERT_TRUE(locks.acquire("warmup"));
  wait_all_connected(locks);
  // A script that keeps the server busy for 0.4 s, from another connection.
  std::thread busy([&] {
    fleet->command(0, {"EVAL",
                       "local s = redis.call('TIME') "
                       "while true do local n = redis.call('TIME') "
                       "if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 400000 then break end end "
                       "return 1",
                       "0"});
  });
  std::string detail;
  EXPECT_TRUE(eventually(
      [&] {
        detail = failure_detail(locks, "job");
        return detail.find("BUSY") != std::string::npos;
      },
      milliseconds(3000)))
      << detail;
  busy.join();
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(locks.acquire("after")); }));
}

TEST_F(ErrorReplyTest, MissingPermission) {
  node_options n;
  n.acl_users = {"user reader on >pw ~* +get +ping +info"};
  start_fleet(1, n);
  client_options o = options_for(*fleet);
  o.endpoints = {"redis://reader:pw@127.0.0.1:" + std::to_string(fleet->port(0))};
  client locks = make_client(o);
  EXPECT_THAT(failure_detail(locks, "job"), HasSubstr("NOPERM"));
}

// A node that restarts with a large dataset answers LOADING until it is loaded: the
// handshake's PING fails with it, and the tally says so.
TEST_F(ErrorReplyTest, LoadingAfterARestart) {
  start_fleet(1);
  fleet->set_command_timeout(milliseconds(30000));
  ASSERT_EQ(fleet->command(0, {"DEBUG", "POPULATE", "300000", "filler", "64"}), "OK");
  ASSERT_EQ(fleet->command(0, {"SAVE"}), "OK");
  fleet->kill(0);
  client_options o = options_for(*fleet);
  o.reconnect_min = milliseconds(2);  // probe often: the load takes a few hundred ms
  o.reconnect_max = milliseconds(10);
  client locks = make_client(o);
  // The fleet restarts on this thread (its servers die with the thread that started them);
  // another thread probes with the client meanwhile.
  std::atomic<bool> restarted{false};
  std::string detail;
  bool seen = false;
  std::thread prober([&] {
    while (!restarted && !seen) {
      std::string d = failure_detail(locks, "job");
      if (d.find("LOADING") != std::string::npos) {
        seen = true;
        detail = d;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  fleet->restart(0);  // returns once the data is loaded
  restarted = true;
  prober.join();
  ASSERT_TRUE(seen) << "no LOADING reply seen while the node loaded";
  EXPECT_THAT(detail, HasSubstr("node refused the connection handshake"));
  std::string last;
  EXPECT_TRUE(eventually([&] {
    result<lease> after = locks.acquire("after");
    last = after.message();
    return static_cast<bool>(after);
  })) << last;
}

}  // namespace
}  // namespace redlock::testing
