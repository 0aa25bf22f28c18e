// One server, one vote; refusals no retry fixes; and the readiness wait.
#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::HasSubstr;

// Endpoints 0 and 1 reach the same server (same run_id): 1 does not vote, and is not asked.
TEST_F(EngineTest, SecondEndpointOfTheSameServerDoesNotVote) {
  make(3);
  nodes[1]->connect("server-redis://node0:6379");  // node 0's server
  acquire("r");
  EXPECT_EQ(nodes[1]->sent(), 0u);
  nodes[0]->answer_ok();
  nodes[2]->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);  // node 2 may come back: retryable
  const node_report& dup = outcome->tally().nodes()[1];
  EXPECT_EQ(dup.vote, vote::failed);
  EXPECT_EQ(dup.error, errc::duplicate_server);
  EXPECT_THAT(dup.detail, HasSubstr("redis://node0:6379"));
  EXPECT_THAT(outcome->message(), HasSubstr("same server"));
  EXPECT_EQ(eng->duplicate_of(1), std::optional<std::size_t>(0));
  EXPECT_EQ(eng->duplicate_of(0), std::nullopt);
}

// Two endpoints that were not yet known to be one server when the round started: the second
// answer from that server counts as failed.
TEST_F(EngineTest, SecondAnswerFromTheSameServerInARoundDoesNotCount) {
  make(3);
  acquire("r");
  nodes[0]->answer_ok();
  nodes[1]->connect("server-redis://node0:6379");  // reconnected: it is node 0's server
  nodes[1]->answer_ok();                           // (another db: the SET ran there too)
  EXPECT_FALSE(outcome.has_value());               // one vote so far, not two
  nodes[2]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  EXPECT_EQ(outcome->tally().granted(), 2u);
  EXPECT_EQ(outcome->tally().nodes()[1].error, errc::duplicate_server);
  // Its key is real: the release goes there too.
  auto lock = outcome->value();
  eng->release(lock, nullptr);
  EXPECT_TRUE(release_pending(1, *lock));
}

TEST_F(EngineTest, ReleaseReachesADuplicateEndpointButItDoesNotConfirm) {
  make(3);
  auto lock = acquire_granted();
  nodes[1]->connect("server-redis://node0:6379");
  auto released = release(lock);
  EXPECT_TRUE(release_pending(1, *lock));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  EXPECT_FALSE(released.ready());  // one server confirmed, two needed
  nodes[2]->answer_int(1);
  ASSERT_TRUE(released.ready() && *released);
}

// A server that restarted recently (quarantine.hpp) does not vote in acquires or extends: it
// is not asked, its vote is failed with errc::quarantined and the reason, until the
// quarantine ends; its releases still reach it.
TEST_F(EngineTest, AQuarantinedServerDoesNotVoteButGetsReleases) {
  make(3);
  nodes[1]->quarantine(clock.now() + milliseconds(1500), "the server had been up 0 s");
  acquire("r");
  EXPECT_EQ(nodes[1]->sent(), 0u);
  nodes[0]->answer_ok();
  nodes[2]->answer_ok();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  const node_report& q = outcome->tally().nodes()[1];
  EXPECT_EQ(q.vote, vote::failed);
  EXPECT_EQ(q.error, errc::quarantined);
  EXPECT_THAT(q.detail, HasSubstr("the server had been up 0 s; it votes again in 1500.0 ms"));
  auto lock = outcome->value();

  auto extended = extend(lock, milliseconds(10000));
  EXPECT_EQ(nodes[1]->sent(), 0u);
  nodes[0]->answer_int(1);
  nodes[2]->fail(errc::node_timeout, "no reply within 50 ms", true);
  ASSERT_TRUE(extended.ready());
  EXPECT_FALSE(*extended);  // one vote of two needed: the quarantined one does not count

  clock.advance(milliseconds(1500));  // the quarantine is over
  auto again = extend(lock, milliseconds(10000));
  ASSERT_TRUE(nodes[1]->has_pending());
  for (auto& n : nodes)
    if (n->has_pending()) n->answer_int(1);

  nodes[1]->quarantine(clock.now() + milliseconds(1000), "restarted");
  eng->release(lock, nullptr);
  EXPECT_TRUE(release_pending(1, *lock));
}

// A round that started before the node's handshake: the handshake shows a server in
// quarantine, so its answer does not count, and our key there still gets the release.
TEST_F(EngineTest, AServerFoundQuarantinedAfterTheRoundStartedDoesNotCount) {
  make(3);
  acquire("r");
  ASSERT_TRUE(nodes[1]->has_pending());
  nodes[1]->quarantine(clock.now() + milliseconds(1000), "the server had been up 0 s");
  nodes[1]->answer_ok();
  nodes[0]->answer_ok();
  EXPECT_FALSE(outcome.has_value());  // one vote of two so far
  nodes[2]->answer_ok();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->tally().nodes()[1].error, errc::quarantined);
  auto lock = outcome->value();
  eng->release(lock, nullptr);
  EXPECT_TRUE(release_pending(1, *lock));
}

// A server whose settings can lose our keys does not vote (errc::unsafe_server, permanent:
// a majority of them is misconfigured), unless risky_nodes_vote.
TEST_F(EngineTest, AServerThatCanLoseKeysDoesNotVoteUnlessAllowed) {
  make(3);
  auto risky = std::make_shared<detail::server_info>();
  risky->run_id = "risky";
  risky->key_loss_risks = {"role is slave: a replica is not an independent master"};
  nodes[1]->connect(risky);
  nodes[2]->connect(risky);  // (same run_id: the duplicate check comes after it)
  acquire("r");
  EXPECT_EQ(nodes[1]->sent(), 0u);
  nodes[0]->answer_ok();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::misconfigured);
  const node_report& n = outcome->tally().nodes()[1];
  EXPECT_EQ(n.error, errc::unsafe_server);
  EXPECT_THAT(n.detail, HasSubstr("role is slave"));
  EXPECT_THAT(n.detail, HasSubstr("risky_nodes_vote"));
}

TEST_F(EngineTest, RiskyNodesVoteWhenAllowed) {
  detail::engine_config config = defaults();
  config.risky_nodes_vote = true;
  make(3, config);
  auto risky = std::make_shared<detail::server_info>();
  risky->run_id = "risky";
  risky->key_loss_risks = {"maxmemory_policy is allkeys-lru"};
  nodes[1]->connect(risky);
  acquire("r");
  nodes[1]->answer_ok();
  nodes[0]->answer_ok();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->tally().nodes()[1].vote, vote::granted);
}

// A wrong password on a majority: no retry can help, so the wait budget is not spent on it.
TEST_F(EngineTest, RefusedCredentialsOnAMajorityAreMisconfiguredWithoutRetrying) {
  make(3);
  acquire_options o;
  o.wait = milliseconds(2000);
  acquire("r", o);
  nodes[0]->fail(errc::config_refused, "AUTH refused: WRONGPASS invalid username-password pair",
                 false);
  nodes[1]->answer_error_reply("NOPERM this user has no permissions to run the 'set' command");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::misconfigured);
  EXPECT_FALSE(is_retryable(outcome->error()));
  EXPECT_THAT(outcome->message(), HasSubstr("WRONGPASS"));
  EXPECT_EQ(outcome->tally().nodes()[1].error, errc::config_refused);
  EXPECT_EQ(outcome->tally().attempts(), 1);
  EXPECT_EQ(timers.pending_timers(), 0u);
}

// One node refusing our password does not make the fleet misconfigured: the others decide.
TEST_F(EngineTest, OneRefusingNodeOfThreeIsNoQuorumWhenAnotherIsDown) {
  make(3);
  acquire("r");
  nodes[0]->fail(errc::config_refused, "AUTH refused: WRONGPASS", false);
  nodes[1]->fail(errc::node_down, "Connection refused", false);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
}

// The round was decided before node 2 answered; its request waits for a connection whose
// handshake keeps being refused, and the tally says so.
TEST_F(EngineTest, UnansweredNodeIsReportedWithItsRefusedHandshake) {
  make(3);
  nodes[2]->disconnect(errc::config_refused, "AUTH refused: WRONGPASS");
  acquire("r");
  nodes[0]->answer_ok();
  nodes[1]->answer_ok();
  ASSERT_TRUE(outcome && *outcome);
  const node_report& r = outcome->tally().nodes()[2];
  EXPECT_EQ(r.vote, vote::unanswered);
  EXPECT_EQ(r.error, errc::config_refused);
  EXPECT_THAT(r.detail, HasSubstr("WRONGPASS"));
}

TEST_F(EngineTest, WaitReadySucceedsOnceAMajorityIsConnected) {
  make(3);
  for (auto& n : nodes)
    n->disconnect(errc::node_down, "Connection refused");
  auto ready = outcome_of<void>();
  eng->wait_ready(clock.now() + milliseconds(1000), ready.callback());
  timers.run_deferred();
  EXPECT_FALSE(ready.ready());
  nodes[0]->reconnect();
  EXPECT_FALSE(ready.ready());
  nodes[2]->reconnect();
  ASSERT_TRUE(ready.ready() && *ready) << ready->message();
  EXPECT_EQ(ready->tally().granted(), 2u);
  EXPECT_EQ(ready->tally().nodes()[1].error, errc::node_down);
  EXPECT_EQ(eng->in_flight(), 0u);
}

TEST_F(EngineTest, WaitReadyNeverRunsItsCallbackInsideTheCall) {
  make(1);
  auto ready = outcome_of<void>();
  eng->wait_ready(clock.now() + milliseconds(1000), ready.callback());
  EXPECT_FALSE(ready.ready());
  timers.run_deferred();
  EXPECT_TRUE(ready.ready() && *ready);
}

TEST_F(EngineTest, WaitReadyFailsAtOnceWhenRefusalsRuleOutAMajority) {
  make(3);
  nodes[0]->disconnect(errc::node_down, "Connection refused");
  nodes[1]->disconnect(errc::node_down, "Connection refused");
  auto ready = outcome_of<void>();
  eng->wait_ready(clock.now() + milliseconds(60000), ready.callback());
  timers.run_deferred();
  EXPECT_FALSE(ready.ready());
  nodes[0]->disconnect(errc::config_refused, "AUTH refused: WRONGPASS");
  EXPECT_FALSE(ready.ready());  // node 1 may still come
  nodes[1]->disconnect(errc::config_refused, "AUTH refused: WRONGPASS");
  ASSERT_TRUE(ready.ready());
  EXPECT_EQ(ready->error(), errc::misconfigured);
  EXPECT_THAT(ready->message(), HasSubstr("WRONGPASS"));
}

// Quarantined servers will vote later: the wait goes on (not misconfigured), and ends when
// their quarantine does, though no node changed.
TEST_F(EngineTest, WaitReadyWaitsOutAQuarantine) {
  make(3);
  nodes[0]->quarantine(clock.now() + milliseconds(300), "the server had been up 0 s");
  nodes[1]->quarantine(clock.now() + milliseconds(500), "the server had been up 0 s");
  auto ready = outcome_of<void>();
  eng->wait_ready(clock.now() + milliseconds(60000), ready.callback());
  timers.run_deferred();
  EXPECT_FALSE(ready.ready());
  timers.advance(milliseconds(300));
  ASSERT_TRUE(ready.ready() && *ready) << ready->message();
  EXPECT_EQ(ready->tally().granted(), 2u);
  EXPECT_EQ(ready->tally().nodes()[1].error, errc::quarantined);
}

TEST_F(EngineTest, WaitReadyTimesOutWithEachNodesState) {
  make(3);
  nodes[0]->disconnect(errc::node_down, "Connection refused");
  nodes[1]->disconnect(errc::node_timeout, "connect timed out after 1000 ms");
  auto ready = outcome_of<void>();
  eng->wait_ready(clock.now() + milliseconds(500), ready.callback());
  timers.run_deferred();
  timers.advance(milliseconds(499));
  EXPECT_FALSE(ready.ready());
  timers.advance(milliseconds(1));
  ASSERT_TRUE(ready.ready());
  EXPECT_EQ(ready->error(), errc::no_quorum);
  EXPECT_THAT(ready->message(), HasSubstr("1 of 3 nodes are connected"));
  EXPECT_THAT(ready->message(), HasSubstr("connect timed out"));
  EXPECT_EQ(eng->in_flight(), 0u);
}

}  // namespace
}  // namespace redlock::testing
