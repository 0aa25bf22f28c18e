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

// Every order of votes for N = 1..7 (as counts): the decision must match the definition.
TEST(VoteCounter, DecidesExactlyWhenTheOutcomeIsCertain) {
  for (std::size_t n = 1; n <= 7; ++n) {
    for (std::size_t g = 0; g <= n; ++g) {
      for (std::size_t r = 0; g + r <= n; ++r) {
        for (std::size_t f = 0; g + r + f <= n; ++f) {
          vote_counter c(n);
          for (std::size_t i = 0; i < g; ++i)
            c.record(vote::granted);
          for (std::size_t i = 0; i < r; ++i)
            c.record(vote::refused);
          for (std::size_t i = 0; i < f; ++i)
            c.record(vote::failed);
          std::size_t open = n - g - r - f;
          decision expected = g >= n / 2 + 1         ? decision::won
                              : g + open < n / 2 + 1 ? decision::lost
                                                     : decision::pending;
          EXPECT_EQ(c.state(), expected) << "n=" << n << " g=" << g << " r=" << r << " f=" << f;
          EXPECT_EQ(c.refusals_decide(), r + 0 > n - (n / 2 + 1));
          EXPECT_EQ(c.complete(), open == 0);
        }
      }
    }
  }
}

TEST(VoteCounter, UnansweredDoesNotCount) {
  vote_counter c(3);
  c.record(vote::unanswered);
  EXPECT_EQ(c.state(), decision::pending);
  EXPECT_FALSE(c.complete());
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
