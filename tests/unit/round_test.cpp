// The round on its own: values from the judge, a second step on the nodes that granted the
// first, nodes not asked, and outcomes known at the start told from the loop.
#include "round.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.hpp"

namespace redlock::testing {
namespace {

using detail::decision;
using detail::round;
using detail::rule;

// An integer reply is granted and carries its value (as a fence would); nil is refused.
vote judge_number(const detail::reply& r, std::optional<std::uint64_t>& value) {
  if (r.kind == detail::reply::type::nil) return vote::refused;
  if (r.kind != detail::reply::type::integer || r.integer < 0) return vote::failed;
  value = static_cast<std::uint64_t>(r.integer);
  return vote::granted;
}

class RoundTest : public ::testing::Test {
 protected:
  void make(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<fake_node>("redis://node" + std::to_string(i) + ":6379"));
      env.nodes.push_back(nodes.back().get());
    }
    env.time = &clock;
    env.timers = &timers;
  }
  detail::step number_step(std::string name) {
    auto cmd = std::make_shared<detail::command>();
    cmd->wire = detail::encode_command({"INCR", name});
    return {cmd, judge_number};
  }

  fake_clock clock;
  fake_scheduler timers{clock};
  std::vector<std::unique_ptr<fake_node>> nodes;
  detail::round_env env;
};

TEST_F(RoundTest, SecondStepGoesToTheNodesThatGrantedAndKeepsTheStart) {
  make(5);
  steady::time_point start = clock.now();
  std::vector<std::uint64_t> firsts;
  std::shared_ptr<round> second;
  std::optional<decision> second_outcome;
  round::spec s;
  s.what = number_step("fence");
  round::listener l;
  l.decided = [&](const round& r) {
    ASSERT_EQ(r.outcome(), decision::won);
    for (const auto& v : r.values())
      if (v) firsts.push_back(*v);
    round::listener then;
    then.decided = [&](const round& r2) {
      second_outcome = r2.outcome();
      EXPECT_EQ(r2.start(), start);
    };
    second = round::then(env, r, number_step("write-back"), rule::majority_granted, then);
  };
  round::run(env, s, l);
  clock.advance(std::chrono::milliseconds(5));
  nodes[0]->answer_int(7);
  nodes[1]->answer_nil();
  nodes[2]->answer_int(9);
  nodes[3]->answer_int(8);
  EXPECT_THAT(firsts, ::testing::UnorderedElementsAre(7u, 9u, 8u));
  ASSERT_TRUE(second);
  // Asked: nodes 0, 2 and 3 only (node 4 had not answered, node 1 refused).
  EXPECT_EQ(nodes[1]->sent(), 1u);
  EXPECT_EQ(nodes[4]->sent(), 1u);
  EXPECT_FALSE(second->asked(1));
  EXPECT_EQ(second->reports()[1].detail, "not asked in this step");
  nodes[0]->answer_int(1);
  nodes[2]->answer_int(1);
  EXPECT_FALSE(second_outcome.has_value());  // three of three needed: the fleet's majority
  nodes[3]->answer_int(1);
  ASSERT_TRUE(second_outcome.has_value());
  EXPECT_EQ(*second_outcome, decision::won);
}

// The nodes of a second step passed the first step's one-server-one-vote checks: an endpoint
// that became a duplicate meanwhile (its twin reconnected) keeps its server's only vote.
TEST_F(RoundTest, SecondStepDoesNotExcludeAgain) {
  make(3);
  bool first_done = false;
  env.excluded = [&](std::size_t node) {
    if (first_done && node == 1) {
      return detail::exclusion{make_error_code(errc::duplicate_server), "same server"};
    }
    return detail::exclusion{};
  };
  std::optional<decision> second_outcome;
  round::listener l;
  l.decided = [&](const round& r) {
    first_done = true;
    round::listener then;
    then.decided = [&](const round& r2) { second_outcome = r2.outcome(); };
    round::then(env, r, number_step("write-back"), rule::majority_granted, then);
  };
  round::spec s;
  s.what = number_step("fence");
  round::run(env, s, l);
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(2);
  EXPECT_EQ(nodes[1]->sent(), 2u);  // asked again
  nodes[0]->answer_int(1);
  nodes[1]->answer_int(1);
  ASSERT_TRUE(second_outcome.has_value());
  EXPECT_EQ(*second_outcome, decision::won);
}

TEST_F(RoundTest, OutcomeKnownAtTheStartIsToldFromTheLoop) {
  make(3);
  env.excluded = [](std::size_t) {
    return detail::exclusion{make_error_code(errc::duplicate_server), "same server"};
  };
  bool decided = false, complete = false;
  round::listener l;
  l.decided = [&](const round& r) {
    decided = true;
    EXPECT_EQ(r.outcome(), decision::lost);
    EXPECT_TRUE(r.votes().permanent_failures_decide());
  };
  l.complete = [&](const round&) { complete = true; };
  round::spec s;
  s.what = number_step("x");
  round::run(env, s, l);
  EXPECT_FALSE(decided);
  for (auto& n : nodes)
    EXPECT_EQ(n->sent(), 0u);
  timers.run_deferred();
  EXPECT_TRUE(decided);
  EXPECT_TRUE(complete);
}

TEST_F(RoundTest, EveryAnswerRuleWaitsForAllAndSeesLateAnswers) {
  make(3);
  std::vector<std::size_t> seen;
  std::optional<decision> outcome;
  round::listener l;
  l.answered = [&](std::size_t node, const detail::node_answer&, vote) { seen.push_back(node); };
  l.decided = [&](const round& r) { outcome = r.outcome(); };
  round::spec s;
  s.what = number_step("x");
  s.how = rule::every_answer;
  round::run(env, s, l);
  nodes[2]->answer_int(1);
  nodes[0]->fail(errc::node_timeout, "no reply", true);
  EXPECT_FALSE(outcome.has_value());
  nodes[1]->answer_int(1);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(*outcome, decision::lost);  // one failed
  EXPECT_THAT(seen, ::testing::ElementsAre(2u, 0u, 1u));
}

}  // namespace
}  // namespace redlock::testing
