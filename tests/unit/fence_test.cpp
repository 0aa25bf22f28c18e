// Fencing tokens on fake nodes: the fenced acquire step, the fence as the largest stored over
// the granting majority plus one, the write-back that only counts where our key still is, and
// the validity that counts both steps from the first one's start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "engine_fixture.hpp"

namespace redlock::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FenceTest : public EngineTest {
 protected:
  static acquire_options fenced(milliseconds ttl = milliseconds(10000)) {
    acquire_options o;
    o.ttl = ttl;
    o.fencing = true;
    return o;
  }
  static detail::reply bulk(std::string text) {
    detail::reply r;
    r.kind = detail::reply::type::string;
    r.text = std::move(text);
    return r;
  }
  // The first step granted on node i, which had `stored` as the resource's fence, and the
  // seeded mark `mark` (by default, the one naming node i's server).
  void grant(std::size_t i, std::string stored, std::optional<std::string> mark = {}) {
    nodes[i]->answer_fenced_grant(std::move(stored), std::move(mark));
  }
  bool acquire_fenced_pending(std::size_t i) const {
    auto args = pending_args(i);
    return args.size() == 8 && args[0] == "EVALSHA" &&
           args[1] == detail::acquire_fenced_script.sha1;
  }
  // The token of the release of "r" pending on node i, or "" if none is pending there.
  std::string release_token(std::size_t i) const {
    auto args = pending_args(i);
    // A lost attempt's clean-up is the quiet release (it wakes no waiter).
    bool release = args.size() == 6 && args[1] == detail::release_script.sha1 &&
                   args[3] == "redlock:r" && args[4].size() == 32 && args[5] == "quiet";
    return release ? args[4] : "";
  }
  // The fence the write-back pending on node i stores, or "" if none is pending there.
  std::string write_back_pending(std::size_t i) const {
    auto args = pending_args(i);
    if (args.size() != 8 || args[0] != "EVALSHA" || args[1] != detail::fence_write_script.sha1)
      return "";
    return args[7];
  }
};

TEST_F(FenceTest, FencedAcquireReadsTheStoredFenceInTheSameScriptAsTheSetNx) {
  make(3);
  acquire("orders:42", fenced(milliseconds(7000)));
  for (auto& n : nodes) {
    ASSERT_TRUE(n->has_pending());
    auto args = args_of(n->pending().wire);
    ASSERT_EQ(args.size(), 8u);
    // Lock key and fence hash; token, ttl and the resource as the hash field.
    EXPECT_THAT(args, ElementsAre("EVALSHA", std::string(detail::acquire_fenced_script.sha1), "2",
                                  "redlock:orders:42", "redlock:", ::testing::SizeIs(32), "7000",
                                  "orders:42"));
    EXPECT_EQ(n->pending().script_source, detail::acquire_fenced_script.source);
  }
}

TEST_F(FenceTest, PlainAcquireStaysAPlainSetAndHasNoFence) {
  make(3);
  acquire("r");
  EXPECT_EQ(pending_args(0)[0], "SET");
  for (auto& n : nodes)
    n->answer_ok();
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_FALSE(outcome->value()->fence.has_value());
  EXPECT_FALSE(nodes[0]->has_pending());  // no second step
}

TEST_F(FenceTest, FenceIsTheLargestOverTheGrantingMajorityPlusOne) {
  make(5);
  acquire("r", fenced());
  grant(0, "3");
  nodes[1]->answer_refusal(1, "other");  // another owner's key (KEYS[1]): its fence is not read
  grant(2, "17");
  EXPECT_FALSE(outcome.has_value());
  grant(3, "0");  // never fenced on this node
  // Decided: the write-back goes to the three granting nodes only, before any grant.
  EXPECT_FALSE(outcome.has_value());
  EXPECT_EQ(write_back_pending(0), "18");
  EXPECT_EQ(write_back_pending(2), "18");
  EXPECT_EQ(write_back_pending(3), "18");
  EXPECT_FALSE(nodes[1]->has_pending());
  grant(4, "99");  // late: not of the granting majority, no write-back there
  EXPECT_FALSE(nodes[4]->has_pending());
  nodes[0]->answer_int(1);
  EXPECT_FALSE(outcome.has_value());
  nodes[2]->answer_int(1);
  EXPECT_FALSE(outcome.has_value());  // two acknowledgements are no majority of five
  nodes[3]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->value()->fence, std::optional<std::uint64_t>(18));
}

TEST_F(FenceTest, TheLargestFenceIsReadCorrectlyNearTwoToTheSixtyFour) {
  make(1);
  acquire("r", fenced());
  grant(0, "18446744073709551614");
  EXPECT_EQ(write_back_pending(0), "18446744073709551615");
  nodes[0]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->value()->fence, std::numeric_limits<std::uint64_t>::max());
}

// The write-back goes to exactly the granting majority, so every acknowledgement is needed:
// a 0 (the script found our key gone, and stored nothing) loses the acquire.
TEST_F(FenceTest, AnAcknowledgementFromANodeThatLostOurKeyDoesNotCount) {
  make(3);
  acquire("r", fenced());
  grant(0, "5");
  grant(1, "5");
  grant(2, "5");  // late: not asked to store the number
  nodes[0]->answer_int(1);
  EXPECT_FALSE(outcome.has_value());
  nodes[1]->answer_int(0);  // our key expired or was deleted there: its write proves nothing
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_THAT(outcome->message(), HasSubstr("fencing token 6"));
  EXPECT_EQ(outcome->tally().granted(), 1u);
  EXPECT_EQ(outcome->tally().refused(), 1u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NE(release_token(i), "") << "node " << i;
}

TEST_F(FenceTest, AWriteBackFailingOnAMajorityFailsTheAcquireAndReleasesEverywhereOurKeyMayBe) {
  make(5);
  acquire("r", fenced());
  grant(0, "1");
  grant(1, "1");
  nodes[2]->answer_refusal(1, "other");
  grant(3, "1");
  // Decided with {0, 1, 3}; node 4 has not answered the first step: its SET may still run.
  nodes[0]->answer_int(1);
  EXPECT_FALSE(outcome.has_value());
  nodes[1]->answer_error_reply("OOM command not allowed when used memory > 'maxmemory'.");
  // Three were asked and three are needed: one failure decides.
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_THAT(outcome->message(), HasSubstr("OOM"));
  std::string token = release_token(0);
  EXPECT_NE(token, "");
  EXPECT_EQ(release_token(1), token);
  // Node 3's write-back is still out; its release follows it.
  EXPECT_EQ(write_back_pending(3), "2");
  nodes[3]->fail(errc::node_timeout, "no reply within 50 ms", true);
  EXPECT_EQ(release_token(3), token);
  EXPECT_FALSE(nodes[2]->has_pending());  // refused: holds no key of ours
  // Node 4 may hold it once its SET runs: the release is queued behind that SET.
  ASSERT_TRUE(acquire_fenced_pending(4));
  grant(4, "1");
  EXPECT_EQ(release_token(4), token);
}

TEST_F(FenceTest, ValidityCountsFromTheFirstStepAndIncludesTheWriteBack) {
  make(3);
  steady::time_point start = clock.now();
  acquire("r", fenced(milliseconds(1000)));  // drift 10 + 2 ms: valid until start + 988 ms
  clock.advance(milliseconds(300));
  grant(0, "1");
  grant(1, "1");
  clock.advance(milliseconds(300));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->value()->valid_until(), start + milliseconds(988));
}

TEST_F(FenceTest, AWriteBackThatEndsAfterTheValidityFailsTheAcquireAndReleases) {
  make(3);
  acquire("r", fenced(milliseconds(1000)));
  clock.advance(milliseconds(300));
  grant(0, "1");
  grant(1, "1");  // decided: the write-back goes to nodes 0 and 1
  grant(2, "1");
  clock.advance(milliseconds(688));  // the write-back's majority lands at start + 988 ms
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::validity_spent);
  EXPECT_THAT(outcome->message(), HasSubstr("fencing token"));
  for (std::size_t i : {0u, 1u})
    EXPECT_NE(release_token(i), "") << "node " << i;
  // Node 2 granted after the decision, so it was not asked to store the number; it may hold
  // our key all the same, and is released too.
  EXPECT_NE(release_token(2), "");
}

TEST_F(FenceTest, AFirstStepThatSpentTheValiditySendsNoWriteBack) {
  make(3);
  acquire("r", fenced(milliseconds(100)));  // valid for 97 ms
  clock.advance(milliseconds(97));
  grant(0, "1");
  grant(1, "1");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::validity_spent);
  EXPECT_EQ(write_back_pending(0), "");
  EXPECT_NE(release_token(0), "");
}

TEST_F(FenceTest, AnExhaustedFenceFailsClearlyInsteadOfWrappingAndIsNotRetried) {
  make(3);
  acquire_options o = fenced();
  o.wait = milliseconds(10000);
  acquire("r", o);
  grant(0, "18446744073709551615");
  grant(1, "4");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::fence_exhausted);
  EXPECT_FALSE(is_retryable(outcome->error()));
  EXPECT_EQ(timers.pending_timers(), 0u);  // no retry waits
  for (std::size_t i : {0u, 1u})
    EXPECT_NE(release_token(i), "") << "node " << i;  // released, no write-back
}

TEST_F(FenceTest, AStoredFenceThatIsNotANumberIsAFailedVote) {
  make(3);
  acquire("r", fenced());
  grant(0, "12a");
  grant(1, "007");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_EQ(outcome->tally().nodes()[0].error, errc::unexpected_reply);
  EXPECT_EQ(outcome->tally().nodes()[1].error, errc::unexpected_reply);
}

TEST_F(FenceTest, ACancelDuringTheWriteBackReleasesTheKeys) {
  make(3);
  std::uint64_t id = eng->acquire({"r"}, fenced(), [this](result<std::shared_ptr<lock_record>> r) {
    outcome.emplace(std::move(r));
  });
  grant(0, "1");
  grant(1, "1");
  eng->cancel(id);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::cancelled);
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  for (std::size_t i : {0u, 1u})
    EXPECT_NE(release_token(i), "") << "node " << i;
}

// ---- seeding a node whose fence hash lost its mark (fence_seeder.hpp) ---------------------

class FenceSeedingTest : public FenceTest {
 protected:
  static constexpr const char* unseeded =
      "UNSEEDED redlock: this server has no mark that it still holds every fencing number";
  // Node i's pending command is HSCAN of the fence hash from `cursor`.
  bool scan_pending(std::size_t i, const std::string& cursor = "0") const {
    auto args = pending_args(i);
    return args.size() == 5 && args[0] == "HSCAN" && args[1] == "redlock:" && args[2] == cursor;
  }
  // Answers node i's HSCAN with one page: the next cursor, then field/value pairs.
  void answer_page(std::size_t i, std::string next, std::vector<std::string> pairs) {
    detail::reply page;
    page.kind = detail::reply::type::array;
    page.elements.resize(2);
    page.elements[0] = bulk(std::move(next));
    page.elements[1].kind = detail::reply::type::array;
    for (auto& p : pairs)
      page.elements[1].elements.push_back(bulk(std::move(p)));
    nodes[i]->answer(std::move(page));
  }
  // The arguments after the script's SHA-1 of the seeding pending on node i, or {} if none.
  std::vector<std::string> seed_pending(std::size_t i) const {
    auto args = pending_args(i);
    if (args.size() < 5 || args[0] != "EVALSHA" || args[1] != detail::fence_seed_script.sha1)
      return {};
    return {args.begin() + 2, args.end()};
  }
  // The first attempt on three nodes: node 0 answers UNSEEDED, which starts its seeding (an
  // HSCAN queued on nodes 1 and 2), node 1 is down, node 2 grants. Node 2's clean-up waits
  // behind the HSCAN; answer_scan_then_cleanup() answers both.
  void first_attempt_meets_an_unseeded_node() {
    make(3);
    acquire("r", fenced());
    nodes[0]->answer_error_reply(unseeded);
    nodes[1]->fail(errc::node_down, "connection refused", false);  // so no clean-up there
    grant(2, "3");
    ASSERT_FALSE(outcome.has_value());  // it waits for the seeding
  }
  // The attempt after a failed seeding meets node 0 UNSEEDED again, node 1 still down: the
  // acquire fails (no second retry).
  void the_retry_meets_it_unseeded_again() {
    timers.advance(milliseconds(0));
    nodes[0]->answer_error_reply(unseeded);
    nodes[1]->fail(errc::node_down, "connection refused", false);
    ASSERT_TRUE(outcome.has_value());
  }
  // Node 0's pending seed write succeeds; the attempt then goes to every node again, nodes 0
  // and 1 grant with `stored` and store the next number, and the acquire ends with `fence`.
  void seeded_then_granted_again(const std::string& stored, std::uint64_t fence) {
    nodes[0]->answer_int(1);
    timers.advance(milliseconds(0));
    for (std::size_t i = 0; i < 3; ++i)
      ASSERT_TRUE(acquire_fenced_pending(i)) << "node " << i;
    grant(0, stored);
    grant(1, stored);
    nodes[0]->answer_int(1);
    nodes[1]->answer_int(1);
    ASSERT_TRUE(outcome && *outcome) << outcome->message();
    EXPECT_EQ(outcome->value()->fence, std::optional<std::uint64_t>(fence));
  }
  void answer_scan_then_cleanup(std::vector<std::string> pairs) {
    ASSERT_TRUE(scan_pending(2));
    answer_page(2, "0", std::move(pairs));
    ASSERT_NE(release_token(2), "");
    nodes[2]->answer_int(1);
  }
};

TEST_F(FenceSeedingTest, OtherNodesNeededForASeeding) {
  // N - quorum + 1 of the others: every write-back majority keeps one of them.
  EXPECT_EQ(detail::sources_needed(1), 0u);
  EXPECT_EQ(detail::sources_needed(2), 1u);
  EXPECT_EQ(detail::sources_needed(3), 2u);
  EXPECT_EQ(detail::sources_needed(4), 2u);
  EXPECT_EQ(detail::sources_needed(5), 3u);
  EXPECT_EQ(detail::sources_needed(7), 4u);
}

TEST_F(FenceSeedingTest, AnUnseededNodeGetsTheHighestNumbersOfTheOthersThenTheAttemptIsTriedAgain) {
  first_attempt_meets_an_unseeded_node();
  ASSERT_TRUE(scan_pending(1));
  ASSERT_TRUE(scan_pending(2));
  EXPECT_FALSE(nodes[0]->has_pending());
  // Node 1 in two pages (its seeded mark, the field '', is skipped); node 2 in one.
  answer_page(1, "17", {"r", "4", "", "1"});
  ASSERT_TRUE(scan_pending(1, "17"));
  answer_page(1, "0", {"other", "2"});
  answer_scan_then_cleanup({"r", "9", "third", "5"});
  // Only on the server that answered UNSEEDED; resources in order, each with its maximum.
  EXPECT_THAT(seed_pending(0), ElementsAre("1", "redlock:", "server-redis://node0:6379/", "mark",
                                           "other", "2", "r", "9", "third", "5"));
  EXPECT_EQ(nodes[0]->pending().script_source, detail::fence_seed_script.source);
  // The attempt again, at once, although the acquire had no wait budget.
  ASSERT_NO_FATAL_FAILURE(seeded_then_granted_again("9", 10));
  EXPECT_EQ(outcome->tally().attempts(), 2);
}

// The mark names the server it was seeded on and its history as a master, so that a server
// that kept the mark but may have lost numbers does not count: one restarted from an older copy
// of its data, or a replica promoted with the mark its old master had.
TEST_F(FenceSeedingTest, TheMarkNamesTheServerAndItsReplicationHistory) {
  detail::server_info server;
  server.run_id = "b7c1";
  server.replication_id = "e4d2";
  server.promotable = true;
  EXPECT_EQ(detail::fence_mark(server), "b7c1/e4d2");
  detail::reply grant;
  grant.kind = detail::reply::type::array;
  grant.elements = {bulk("7"), bulk("b7c1/e4d2")};
  EXPECT_EQ(detail::unseeded_grant(grant, &server), "");
  grant.elements[1] = bulk("a000/e4d2");  // the old master's, replicated
  EXPECT_THAT(detail::unseeded_grant(grant, &server),
              HasSubstr("UNSEEDED redlock: the seeded mark names the server a000/e4d2, not this "
                        "one (b7c1/e4d2)"));
  EXPECT_TRUE(detail::is_unseeded(detail::unseeded_grant(grant, &server)));
  EXPECT_NE(detail::unseeded_grant(grant, nullptr), "");
  // An independent master: any mark counts (a restart with persistence needs no seeding).
  server.promotable = false;
  EXPECT_EQ(detail::unseeded_grant(grant, &server), "");
}

// A grant from a server whose mark names another (here a promoted replica, which has its old
// master's mark) counts as UNSEEDED: the key set there gets the clean-up, the node is seeded
// from the others, and then the attempt is tried again.
TEST_F(FenceSeedingTest, AGrantWhoseMarkNamesAnotherServerCountsAsUnseededAndSeedsIt) {
  make(3);
  auto promoted = std::make_shared<detail::server_info>();
  promoted->run_id = "server-redis://node0:6379";
  promoted->promotable = true;
  nodes[0]->connect(promoted);
  acquire("r", fenced());
  grant(0, "3", "server-old-master/");
  nodes[1]->fail(errc::node_down, "connection refused", false);
  grant(2, "3");
  ASSERT_FALSE(outcome.has_value());  // it waits for the seeding
  ASSERT_NE(release_token(0), "") << "the key set on node 0 gets its clean-up";
  nodes[0]->answer_int(1);
  ASSERT_TRUE(scan_pending(1));
  answer_page(1, "0", {"r", "8"});
  answer_scan_then_cleanup({"r", "5"});
  EXPECT_THAT(seed_pending(0),
              ElementsAre("1", "redlock:", "server-redis://node0:6379/", "mark", "r", "8"));
  ASSERT_NO_FATAL_FAILURE(seeded_then_granted_again("8", 9));
}

// A quarantined server is seeded only after its quarantine (docs/safety.md): by then every
// write-back under way when it lost its data has ended, so the read cannot miss one.
TEST_F(FenceSeedingTest, AQuarantinedNodeIsNotSeededUntilItsQuarantineEnds) {
  make(3);
  acquire("r", fenced());
  nodes[0]->quarantine(clock.now() + std::chrono::seconds(60), "restarted 2 s ago");
  nodes[0]->answer_error_reply(unseeded);
  nodes[1]->fail(errc::node_down, "connection refused", false);
  grant(2, "3");
  ASSERT_TRUE(outcome.has_value());  // no seeding to wait for
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_FALSE(scan_pending(1));
  EXPECT_FALSE(scan_pending(2));
}

TEST_F(FenceSeedingTest, TooFewOtherNodesReadLeavesTheNodeUnseededAndTheAcquireFailsSayingWhy) {
  first_attempt_meets_an_unseeded_node();
  nodes[1]->fail(errc::node_down, "connection refused", false);
  answer_scan_then_cleanup({"r", "9"});
  EXPECT_FALSE(nodes[0]->has_pending());  // nothing written to node 0
  // The one attempt after the seeding: node 0 is still unseeded, and no new seeding starts
  // within the retry delay.
  the_retry_meets_it_unseeded_again();
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_THAT(outcome->message(),
              HasSubstr("redis://node0:6379: its fencing numbers could not be seeded: only 1 of "
                        "the 2 other nodes needed were read; redis://node1:6379: connection "
                        "refused"));
  grant(2, "9");  // late: the clean-up goes there
  nodes[2]->answer_int(1);
  EXPECT_FALSE(scan_pending(1));
  EXPECT_FALSE(scan_pending(2));
  EXPECT_FALSE(nodes[0]->has_pending());
}

// A large hash is written in calls of 500 resources, each short; only the last sets the mark.
TEST_F(FenceSeedingTest, ALargeHashIsSeededInShortCallsAndOnlyTheLastSetsTheMark) {
  first_attempt_meets_an_unseeded_node();
  std::vector<std::string> pairs;
  for (int i = 0; i < 1200; ++i) {
    pairs.push_back("r" + std::to_string(i));
    pairs.push_back(std::to_string(i + 1));
  }
  answer_page(1, "0", pairs);
  answer_scan_then_cleanup(pairs);
  for (const char* last : {"more", "more", "mark"}) {
    std::vector<std::string> call = seed_pending(0);
    ASSERT_GE(call.size(), 4u);
    EXPECT_EQ(call[3], last);
    EXPECT_EQ(call.size() - 4, std::string(last) == "mark" ? 400u : 1000u);  // 200, 500 pairs
    nodes[0]->answer_int(1);
  }
  EXPECT_FALSE(nodes[0]->has_pending());
  timers.advance(milliseconds(0));
  EXPECT_TRUE(acquire_fenced_pending(0));  // the attempt again
}

TEST_F(FenceSeedingTest, ASourceWhoseStoredFenceIsNotANumberDoesNotCount) {
  first_attempt_meets_an_unseeded_node();
  answer_page(1, "0", {"r", "12a"});
  answer_scan_then_cleanup({"r", "9"});
  EXPECT_FALSE(nodes[0]->has_pending());
  the_retry_meets_it_unseeded_again();
  EXPECT_THAT(outcome->message(),
              HasSubstr("redis://node1:6379: the stored fence of 'r' is not a 64-bit number"));
}

TEST_F(FenceSeedingTest, AServerThatRestartedAgainBeforeItsSeedingStaysUnseeded) {
  first_attempt_meets_an_unseeded_node();
  answer_page(1, "0", {"r", "4"});
  answer_scan_then_cleanup({"r", "9"});
  ASSERT_FALSE(seed_pending(0).empty());
  nodes[0]->answer_int(0);  // fence_seed.lua found another run_id
  the_retry_meets_it_unseeded_again();
  EXPECT_THAT(outcome->message(),
              HasSubstr("could not be seeded: redis://node0:6379: the server restarted again"));
}

}  // namespace
}  // namespace redlock::testing
