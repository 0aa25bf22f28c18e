// Replica-acknowledged votes (client_options::replica_ack): a node's grant counts only once a
// WAIT (or WAITAOF) on the same node says its replicas have the write; fewer, or no answer,
// fails the vote, and the key there gets the usual release.
#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ReplicaAckTest : public EngineTest {
 protected:
  // `n` nodes whose grants need one replica's acknowledgement within 25 ms.
  void make_acknowledged(std::size_t n) {
    detail::engine_config config = defaults();
    config.ack_replicas = 1;
    config.ack_timeout = milliseconds(25);
    make(n, config);
  }
  static detail::reply integers(long long first, long long second) {
    detail::reply r;
    r.kind = detail::reply::type::array;
    r.elements.resize(2);
    r.elements[0].kind = r.elements[1].kind = detail::reply::type::integer;
    r.elements[0].integer = first;
    r.elements[1].integer = second;
    return r;
  }
  bool release_sent(std::size_t i) const {
    auto args = pending_args(i);
    return args.size() >= 5 && args[0] == "EVALSHA" && args[1] == detail::release_script.sha1;
  }
};

TEST_F(ReplicaAckTest, AGrantCountsOnlyOnceItsReplicasAcknowledged) {
  make_acknowledged(3);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  ASSERT_FALSE(outcome.has_value()) << "granted before any replica acknowledged";
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_THAT(pending_args(i), ElementsAre("WAIT", "1", "25")) << i;
  nodes[0]->answer_int(1);
  EXPECT_FALSE(outcome.has_value());
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->tally().nodes()[0].detail, "WAIT 1 25: 1 of 1 replicas acknowledged");
}

// The wait is part of the round: the validity still counts from before the SETs left.
TEST_F(ReplicaAckTest, TheValidityCountsFromTheRoundsStartSoItCoversTheWait) {
  make_acknowledged(3);
  const steady::time_point start = clock.now();
  acquire("job");  // ttl 10 s
  for (auto& n : nodes)
    n->answer_ok();
  clock.advance(milliseconds(20));  // the replicas take their time
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->value()->valid_until(),
            detail::validity_deadline(start, milliseconds(10000), 0.01));
}

TEST_F(ReplicaAckTest, TooFewAcknowledgementsFailTheVoteAndTheKeysAreReleased) {
  make_acknowledged(3);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  nodes[0]->answer_int(0);
  nodes[1]->answer_int(1);
  nodes[2]->answer_int(0);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  const node_report& report = outcome->tally().nodes()[0];
  EXPECT_EQ(report.vote, vote::failed);
  EXPECT_EQ(report.error, errc::not_replicated);
  EXPECT_EQ(report.detail, "WAIT 1 25: only 0 of 1 replicas acknowledged");
  EXPECT_THAT(outcome->message(), HasSubstr("too few replicas acknowledged the write"));
  timers.run_deferred();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_TRUE(release_sent(i)) << "node " << i << " has our key and got no release: "
                                 << ::testing::PrintToString(pending_args(i));
  }
}

TEST_F(ReplicaAckTest, AWaitWithoutAnswerFailsTheVoteWithTheNodesReason) {
  make_acknowledged(3);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  nodes[0]->fail(errc::node_timeout, "no reply within 50 ms", true);
  nodes[1]->answer_int(1);
  nodes[2]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome);
  const node_report& report = outcome->tally().nodes()[0];
  EXPECT_EQ(report.error, errc::node_timeout);
  EXPECT_EQ(report.detail, "WAIT 1 25 after the grant: no reply within 50 ms");
}

TEST_F(ReplicaAckTest, ARefusalOrAnErrorAsksNoReplica) {
  make_acknowledged(3);
  acquire("job");
  nodes[0]->answer_refusal(1, "other");
  nodes[1]->answer_error_reply("OOM command not allowed when used memory > 'maxmemory'.");
  EXPECT_FALSE(nodes[0]->has_pending());
  EXPECT_FALSE(nodes[1]->has_pending());
  ASSERT_TRUE(outcome.has_value());  // no majority is possible any more
  EXPECT_FALSE(*outcome);
}

TEST_F(ReplicaAckTest, AGrantAfterTheDecisionIsNotWaitedForButReleased) {
  make_acknowledged(3);
  acquire("job");
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome);
  nodes[2]->answer_ok();  // late: the lock is ours already, no WAIT for it
  EXPECT_FALSE(nodes[2]->has_pending());
}

TEST_F(ReplicaAckTest, WaitaofOnAServerThatHasItAndAppendsToDisk) {
  make_acknowledged(3);
  auto server = std::make_shared<detail::server_info>();
  server->run_id = "server-72";
  server->redis_version = "7.2.4";
  server->aof_enabled = true;
  nodes[0]->connect(server);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  EXPECT_THAT(pending_args(0), ElementsAre("WAITAOF", "1", "1", "25"));
  EXPECT_THAT(pending_args(1), ElementsAre("WAIT", "1", "25"));  // no version: WAIT
  nodes[0]->answer(integers(0, 1));  // the replica has it, the master's disk not yet
  nodes[1]->answer_int(1);
  nodes[2]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome);
  const node_report& report = outcome->tally().nodes()[0];
  EXPECT_EQ(report.error, errc::not_replicated);
  EXPECT_EQ(report.detail,
            "WAITAOF 1 1 25: only 1 of 1 replicas acknowledged, not on its own disk");
}

TEST_F(ReplicaAckTest, AnExtendCountsOnlyWithAcknowledgementsAndOtherwiseShortens) {
  make_acknowledged(3);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  for (auto& n : nodes)
    n->answer_int(1);
  ASSERT_TRUE(outcome && *outcome);
  auto lock = outcome->value();
  steady::time_point before = lock->valid_until();
  auto extended = extend(lock, milliseconds(20000));
  for (auto& n : nodes)
    n->answer_int(1);
  EXPECT_FALSE(extended.ready()) << "extended before any replica acknowledged";
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_THAT(pending_args(i), ElementsAre("WAIT", "1", "25"));
  for (auto& n : nodes)
    n->answer_int(0);
  ASSERT_TRUE(extended.ready());
  EXPECT_FALSE(*extended);
  EXPECT_LE(lock->valid_until(), before) << "a failed extend moved the validity later";
}

TEST_F(ReplicaAckTest, OffByDefault) {
  make(3);
  acquire("job");
  for (auto& n : nodes)
    n->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  for (auto& n : nodes)
    EXPECT_FALSE(n->has_pending());
  EXPECT_THAT(outcome->tally().nodes()[0].detail, IsEmpty());
}

TEST(ReplicaAckOptions, TimeoutDefaultsToHalfTheNodeTimeoutAndBadValuesAreNamed) {
  client_options o;
  o.endpoints = {"redis://127.0.0.1:7001"};
  o.node_timeout = milliseconds(40);
  o.replica_ack.replicas = 1;
  EXPECT_EQ(detail::engine_config::from(o).ack_timeout, milliseconds(20));
  ASSERT_TRUE(detail::check_client_options(o));
  o.replica_ack.timeout = milliseconds(40);
  auto refused = detail::check_client_options(o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.message(),
            "invalid option replica_ack.timeout: must be less than node_timeout (40 ms), so that "
            "the node answers within it (got 40 ms)");
  o.replica_ack.timeout = milliseconds(0);
  o.replica_ack.replicas = -1;
  EXPECT_EQ(detail::check_client_options(o).message(),
            "invalid option replica_ack.replicas: must be in [0, 1000] (got -1)");
}

}  // namespace
}  // namespace redlock::testing
