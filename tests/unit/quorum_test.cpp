#include "quorum.hpp"

#include <gtest/gtest.h>

namespace redlock::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(Quorum, IsAStrictMajority) {
  EXPECT_EQ(quorum_of(1), 1u);
  EXPECT_EQ(quorum_of(2), 2u);
  EXPECT_EQ(quorum_of(3), 2u);
  EXPECT_EQ(quorum_of(4), 3u);
  EXPECT_EQ(quorum_of(5), 3u);
  EXPECT_EQ(quorum_of(6), 4u);
  EXPECT_EQ(quorum_of(7), 4u);
}

// Every count of votes for N = 1..7, under every rule: the decision must match the definition.
TEST(VoteCounter, DecidesExactlyWhenTheOutcomeIsCertain) {
  for (rule how : {rule::majority_granted, rule::majority_confirmed, rule::every_answer}) {
    for (std::size_t n = 1; n <= 7; ++n) {
      std::size_t q = n / 2 + 1;
      for (std::size_t g = 0; g <= n; ++g) {
        for (std::size_t r = 0; g + r <= n; ++r) {
          for (std::size_t f = 0; g + r + f <= n; ++f) {
            vote_counter c(how, n, quorum_of(n));
            for (std::size_t i = 0; i < g; ++i)
              c.record(vote::granted);
            for (std::size_t i = 0; i < r; ++i)
              c.record(vote::refused);
            for (std::size_t i = 0; i < f; ++i)
              c.record(vote::failed);
            std::size_t open = n - g - r - f;
            decision expected = decision::pending;
            switch (how) {
              case rule::majority_granted:  // a majority can still grant, or not
                expected = g >= q         ? decision::won
                           : g + open < q ? decision::lost
                                          : decision::pending;
                break;
              case rule::majority_confirmed:  // deleted or not there both confirm
                expected = g + r >= q         ? decision::won
                           : g + r + open < q ? decision::lost
                                              : decision::pending;
                break;
              case rule::every_answer:
                expected = open > 0 ? decision::pending : f == 0 ? decision::won : decision::lost;
                break;
            }
            EXPECT_EQ(c.state(), expected) << "rule=" << static_cast<int>(how) << " n=" << n
                                           << " g=" << g << " r=" << r << " f=" << f;
            EXPECT_EQ(c.refusals_decide(), r > n - q);
            EXPECT_EQ(c.complete(), open == 0);
          }
        }
      }
    }
  }
}

TEST(VoteCounter, UnansweredDoesNotCount) {
  vote_counter c(rule::majority_granted, 3, 2);
  c.record(vote::unanswered);
  EXPECT_EQ(c.state(), decision::pending);
  EXPECT_FALSE(c.complete());
}

// Only failures no retry fixes (wrong password, duplicate server) count as permanent, and
// they decide only once they alone rule out a majority.
TEST(VoteCounter, PermanentFailuresDecideOnlyWhenTheyRuleOutAMajority) {
  vote_counter c(rule::majority_granted, 5, 3);
  c.record(vote::failed, true);
  c.record(vote::failed, true);
  c.record(vote::failed, false);
  EXPECT_EQ(c.state(), decision::lost);
  EXPECT_FALSE(c.permanent_failures_decide());  // 3 nodes could still grant once fixed
  c.record(vote::failed, true);
  EXPECT_TRUE(c.permanent_failures_decide());
}

// A second step asked of 3 nodes of 5 still needs the fleet's majority (3): one failure loses.
TEST(VoteCounter, FewerVotersThanTheFleetNeedTheFleetsMajority) {
  vote_counter c(rule::majority_granted, 3, 3);
  c.record(vote::granted);
  c.record(vote::failed);
  EXPECT_EQ(c.state(), decision::lost);
}

TEST(GuaranteedTtl, IsTheNeededLongestLifetime) {
  using ms = milliseconds;
  // Three of five granted with 10 s, but one of them may still run a 200 ms extend late:
  // only two hold for sure, fewer than the three needed.
  EXPECT_EQ(guaranteed_ttl({ms(10000), ms(200), ms(10000)}, 3), ms(200));
  // Four granted: three hold the full ttl, enough.
  EXPECT_EQ(guaranteed_ttl({ms(10000), ms(200), ms(10000), ms(10000)}, 3), ms(10000));
  EXPECT_EQ(guaranteed_ttl({ms(10000)}, 3), ms(0));  // too few granted
  EXPECT_EQ(guaranteed_ttl({}, 0), ms(0));
}

TEST(Validity, DriftIsTtlTimesFactorPlusTwoMilliseconds) {
  EXPECT_EQ(drift_allowance(milliseconds(10000), 0.01), milliseconds(102));
  EXPECT_EQ(drift_allowance(milliseconds(10000), 0.0), milliseconds(2));
  EXPECT_EQ(drift_allowance(milliseconds(1), 0.0), milliseconds(2));
  EXPECT_EQ(drift_allowance(milliseconds(333), 0.01), nanoseconds(3'330'000 + 2'000'000));
}

TEST(Validity, DeadlineCountsFromTheRoundStart) {
  steady::time_point start(std::chrono::hours(5));
  EXPECT_EQ(validity_deadline(start, milliseconds(10000), 0.01), start + milliseconds(9898));
  // A ttl shorter than the fixed 2 ms drift is spent before it starts.
  EXPECT_LT(validity_deadline(start, milliseconds(1), 0.0), start);
  // The largest ttl (a year) does not overflow.
  auto year = std::chrono::duration_cast<milliseconds>(std::chrono::hours(24 * 365));
  EXPECT_GT(validity_deadline(start, year, 0.49), start);
}

TEST(Clock, SaturatingAddNeverOverflows) {
  steady::time_point t(std::chrono::hours(1));
  EXPECT_EQ(saturating_add(t, milliseconds(5)), t + milliseconds(5));
  EXPECT_EQ(saturating_add(t, milliseconds::max()), steady::time_point::max());
  EXPECT_EQ(saturating_add(t, milliseconds(-5)), t);
}

}  // namespace
}  // namespace redlock::detail
