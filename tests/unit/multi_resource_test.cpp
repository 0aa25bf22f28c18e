// Locks on several resources on fake nodes: one all-or-nothing script call per node with every
// key, the refusal naming the resources the nodes found held, the clean-up of a lost round
// covering every key, extend/check/release/owed releases over every key, batching left to
// single-resource locks, fencing over every resource, and a waiter watching every key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_fixture.hpp"
#include "keeper.hpp"

namespace redlock::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const std::vector<std::string> abc{"a", "b", "c"};

class MultiResourceTest : public EngineTest {
 protected:
  // The EVALSHA pending on node i: its script and KEYS, and ARGV after them.
  struct call {
    std::string sha1;
    std::vector<std::string> keys;
    std::vector<std::string> argv;
  };
  call pending_call(std::size_t i) const {
    auto args = pending_args(i);
    if (args.size() < 3 || args[0] != "EVALSHA") return {};
    auto count = static_cast<std::ptrdiff_t>(std::stoul(args[2]));
    return {args[1],
            {args.begin() + 3, args.begin() + 3 + count},
            {args.begin() + 3 + count, args.end()}};
  }
  std::shared_ptr<lock_record> granted_abc(acquire_options o = {}) {
    acquire_all(abc, o);
    for (auto& n : nodes)
      n->answer_int(1);
    EXPECT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "no outcome");
    return outcome->value();
  }
};

TEST_F(MultiResourceTest, EachNodeGetsOneAllOrNothingScriptCallWithEveryKey) {
  make(3);
  acquire_options o;
  o.ttl = milliseconds(7000);
  acquire_all(abc, o);
  for (std::size_t i = 0; i < 3; ++i) {
    call c = pending_call(i);
    EXPECT_EQ(c.sha1, detail::acquire_script.sha1);
    EXPECT_THAT(c.keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
    EXPECT_THAT(c.argv, ElementsAre(SizeIs(32), "7000"));  // no waiters to tell
    EXPECT_EQ(nodes[i]->pending().script_source, detail::acquire_script.source);
  }
  for (auto& n : nodes)
    n->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_THAT(outcome->value()->resources, ElementsAre("a", "b", "c"));
  EXPECT_THAT(outcome->value()->keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
}

TEST_F(MultiResourceTest, TheRefusalNamesTheResourcesTheNodesFoundHeld) {
  make(3);
  acquire_all(abc);
  nodes[0]->answer_refusal(2, "other");  // KEYS[2], "b", is another owner's there
  nodes[1]->answer_refusal(3, "other");  // "c" there
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  EXPECT_THAT(outcome->message(), HasSubstr("'b' and 'c' of 'a', 'b' and 'c' are held (at least)"));
  EXPECT_EQ(outcome->tally().refused(), 2u);
}

TEST_F(MultiResourceTest, AReplyThatIsNotTheScriptsFailsTheVote) {
  make(1);
  acquire_all(abc);
  nodes[0]->answer_int(2);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_EQ(outcome->tally().failed(), 1u);
}

// A refusal is {-i, token} with 1 <= i <= 1000 (max_resources) and a string token; anything
// else (a bare -i, a token that is not a string, an index out of range) is a failed vote.
TEST_F(MultiResourceTest, ARefusalNotShapedAsTheScriptsFailsTheVote) {
  make(5);
  acquire_all(abc);
  nodes[0]->answer_int(-1);
  detail::reply number_token;
  number_token.kind = detail::reply::type::array;
  number_token.elements.resize(2);
  number_token.elements[0].kind = detail::reply::type::integer;
  number_token.elements[0].integer = -1;
  number_token.elements[1].kind = detail::reply::type::integer;
  nodes[1]->answer(number_token);
  nodes[2]->answer_refusal(1001, "other");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::no_quorum);
  EXPECT_EQ(outcome->tally().failed(), 3u);
  EXPECT_EQ(outcome->tally().refused(), 0u);
}

// Refused by a majority: the node that set every key gets the (quiet) release of them all,
// and so does a node that answers late that it set them.
TEST_F(MultiResourceTest, ALostRoundReleasesEveryKeyWhereTheyWereSet) {
  make(5);
  acquire_all(abc);
  nodes[0]->answer_int(1);
  for (std::size_t i = 1; i < 4; ++i)
    nodes[i]->answer_refusal(1, "other");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->error(), errc::held_elsewhere);
  call cleanup = pending_call(0);
  EXPECT_EQ(cleanup.sha1, detail::release_script.sha1);
  EXPECT_THAT(cleanup.keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
  EXPECT_THAT(cleanup.argv, ElementsAre(SizeIs(32), "quiet"));
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_FALSE(nodes[i]->has_pending()) << "node " << i << " set none of our keys";
  nodes[4]->answer_int(1);  // late, and it set them
  EXPECT_EQ(pending_call(4).sha1, detail::release_script.sha1);
  EXPECT_THAT(pending_call(4).keys, SizeIs(3));
}

TEST_F(MultiResourceTest, ExtendCheckAndReleaseCoverEveryKey) {
  make(3);
  std::shared_ptr<lock_record> lock = granted_abc();
  auto extended = extend(lock, milliseconds(20000));
  call e = pending_call(0);
  EXPECT_EQ(e.sha1, detail::extend_script.sha1);
  EXPECT_THAT(e.keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
  EXPECT_THAT(e.argv, ElementsAre(lock->token, "20000"));
  for (auto& n : nodes)
    n->answer_int(1);
  ASSERT_TRUE(extended.ready() && *extended) << extended->message();

  outcome_of<ownership> checked;
  eng->check(lock, checked.callback());
  call c = pending_call(0);
  EXPECT_EQ(c.sha1, detail::check_script.sha1);
  EXPECT_THAT(c.keys, SizeIs(3));
  EXPECT_THAT(c.argv, ElementsAre(lock->token));
  for (auto& n : nodes)
    n->answer_int(-2);  // a key of ours is gone on every node
  ASSERT_TRUE(checked.ready());
  EXPECT_EQ(checked->error(), errc::lock_lost);
  EXPECT_THAT(checked->message(), HasSubstr("'a', 'b' and 'c'"));

  auto released = release(lock);
  call r = pending_call(0);
  EXPECT_EQ(r.sha1, detail::release_script.sha1);
  EXPECT_THAT(r.keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
  EXPECT_THAT(r.argv, ElementsAre(lock->token));  // a lease's release: waiters are told
}

TEST_F(MultiResourceTest, AReleaseOwedToANodeCarriesEveryKey) {
  make(3);
  std::shared_ptr<lock_record> lock = granted_abc();
  release_owed_by_last(lock);
  EXPECT_EQ(eng->owed(2).owed(), 1u);
  nodes[2]->reconnect();  // the node is back: what it is owed goes out now
  EXPECT_EQ(eng->owed(2).owed(), 0u);
  call owed = pending_call(2);
  EXPECT_EQ(owed.sha1, detail::release_script.sha1);
  EXPECT_THAT(owed.keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
  EXPECT_THAT(owed.argv, ElementsAre(lock->token));
}

// A keeper batch (extend_many.lua) holds one key per lease; a lock on several resources is
// extended all or nothing by its own round instead.
TEST_F(MultiResourceTest, ABatchOfExtensionsLeavesASeveralResourceLockToItsOwnRound) {
  make(1);
  std::shared_ptr<lock_record> single1 = acquire_granted("x", {});
  std::shared_ptr<lock_record> many = granted_abc();
  std::shared_ptr<lock_record> single2 = acquire_granted("y", {});
  std::vector<engine::batch_member> members;
  int done = 0;
  for (const auto& lock : {single1, many, single2})
    members.push_back({lock, milliseconds(5000), [&](result<void> r) { done += r ? 1 : 0; }});
  eng->extend_many(std::move(members));
  std::vector<call> calls;
  while (nodes[0]->has_pending()) {
    calls.push_back(pending_call(0));
    call& c = calls.back();
    if (c.sha1 == detail::extend_many_script.sha1) {
      detail::reply ones;
      ones.kind = detail::reply::type::array;
      for (std::size_t k = 0; k < c.keys.size(); ++k) {
        detail::reply one;
        one.kind = detail::reply::type::integer;
        one.integer = 1;
        ones.elements.push_back(one);
      }
      nodes[0]->answer(ones);
    } else {
      nodes[0]->answer_int(1);
    }
  }
  ASSERT_THAT(calls, SizeIs(2));
  EXPECT_EQ(calls[0].sha1, detail::extend_script.sha1);
  EXPECT_THAT(calls[0].keys, ElementsAre("redlock:a", "redlock:b", "redlock:c"));
  EXPECT_EQ(calls[1].sha1, detail::extend_many_script.sha1);
  EXPECT_THAT(calls[1].keys, ElementsAre("redlock:x", "redlock:y"));
  EXPECT_EQ(done, 3);
}

// One fence for the lock: the largest stored over every resource and the granting majority,
// plus one, written back to every resource.
TEST_F(MultiResourceTest, TheFenceCoversEveryResource) {
  make(3);
  acquire_options o;
  o.fencing = true;
  o.ttl = milliseconds(7000);
  acquire_all({"a", "b"}, o);
  call first = pending_call(0);
  EXPECT_EQ(first.sha1, detail::acquire_fenced_script.sha1);
  EXPECT_THAT(first.keys, ElementsAre("redlock:a", "redlock:b", "redlock:"));
  EXPECT_THAT(first.argv, ElementsAre(SizeIs(32), "7000", "a", "b"));
  nodes[0]->answer_fenced_grant("41");  // the larger of the two resources' fences on node 0
  nodes[1]->answer_fenced_grant("7");
  nodes[2]->answer_refusal(2, "other");  // "b" is another owner's there
  call back = pending_call(0);
  EXPECT_EQ(back.sha1, detail::fence_write_script.sha1);
  EXPECT_THAT(back.keys, ElementsAre("redlock:a", "redlock:b", "redlock:"));
  EXPECT_THAT(back.argv, ElementsAre(SizeIs(32), "a", "b", "42"));
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_EQ(outcome->value()->fence, std::optional<std::uint64_t>(42));
}

// A waiter watches every key of its lock, and the release of any of them wakes it.
TEST_F(MultiResourceTest, AWaiterWatchesEveryKeyAndAnyReleaseWakesIt) {
  auto config = defaults();
  config.retry_delay = milliseconds(5000);
  config.retry_jitter = milliseconds(0);
  make(1, config);
  recording_watch watch;
  watch.delivering = true;
  eng->set_key_watch(&watch);
  acquire_options o;
  o.wait = milliseconds(20000);
  acquire_all({"a", "b"}, o);
  EXPECT_THAT(watch.watched, ElementsAre("redlock:a", "redlock:b"));
  EXPECT_THAT(pending_call(0).argv, Contains("tell"));  // a waiter's acquire tells the others
  nodes[0]->answer_refusal(2, "other");
  ASSERT_FALSE(outcome.has_value());
  EXPECT_FALSE(nodes[0]->has_pending());  // waiting for a release, or the 5 s retry
  eng->notice("redlock:b", detail::key_notice::released);
  timers.advance(milliseconds(1));  // the wake delay: at most 100 µs for one listener
  ASSERT_TRUE(nodes[0]->has_pending()) << "not woken by the release of 'b'";
  nodes[0]->answer_int(1);
  ASSERT_TRUE(outcome && *outcome) << outcome->message();
  EXPECT_THAT(watch.unwatched, ElementsAre("redlock:a", "redlock:b"));
}

}  // namespace
}  // namespace redlock::testing
