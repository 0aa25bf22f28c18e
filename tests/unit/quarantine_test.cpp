// When a node's server may vote again after a handshake (quarantine.hpp): pure arithmetic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "quarantine.hpp"

namespace redlock::testing {
namespace {

using detail::quarantine;
using detail::quarantine_after_handshake;
using detail::server_info;
using detail::steady;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

const steady::time_point seen_at = steady::time_point() + std::chrono::hours(1);
constexpr milliseconds period{60'602};  // max_ttl 60 s plus its drift (1% + 2 ms)

server_info server(std::string run_id, seconds uptime) {
  server_info s;
  s.run_id = std::move(run_id);
  s.uptime = uptime;
  return s;
}

// uptime_in_seconds counts whole seconds down: the server may have started as late as
// seen_at - uptime, and votes from then + period.
TEST(Quarantine, AServerUpForLessThanThePeriodVotesOnceItHasBeenUpThatLong) {
  quarantine q = quarantine_after_handshake(server("a", seconds(3)), "", seen_at, period, {});
  EXPECT_EQ(q.until, seen_at - seconds(3) + period);
  EXPECT_THAT(q.reason, HasSubstr("had been up 3 s (uptime_in_seconds)"));
}

TEST(Quarantine, AServerUpForLongerVotesAtOnce) {
  quarantine q = quarantine_after_handshake(server("a", seconds(61)), "", seen_at, period, {});
  EXPECT_LE(q.until, seen_at);
}

// A new run_id on the endpoint may be another server altogether, with a long uptime and none
// of our keys: it sits out a whole period from now.
TEST(Quarantine, ANewServerOnTheEndpointSitsOutAWholePeriod) {
  quarantine q = quarantine_after_handshake(server("b1234567890", seconds(3600)), "a9876543210",
                                            seen_at, period, {});
  EXPECT_EQ(q.until, seen_at + period);
  EXPECT_THAT(q.reason, HasSubstr("a new server (run_id b1234567..., was a9876543...)"));
  // The same server again (a reconnect): only its uptime counts.
  quarantine same =
      quarantine_after_handshake(server("a", seconds(3600)), "a", seen_at, period, {});
  EXPECT_LE(same.until, seen_at);
}

// Reconnecting never shortens a quarantine: a new server seen a moment ago, reached again.
// A Sentinel group whose votes waited for every replica of its old master: the promoted replica
// (a new run_id, up for long) holds every counted key and votes at once; a promoted replica
// that was itself started just now still sits out its uptime.
TEST(Quarantine, APromotionThatKeptEveryCountedKeyIsNotANewServer) {
  quarantine promoted =
      quarantine_after_handshake(server("b", seconds(600)), "a", seen_at, period, {}, true);
  EXPECT_LE(promoted.until, seen_at);
  quarantine unknown =
      quarantine_after_handshake(server("b", seconds(600)), "a", seen_at, period, {}, false);
  EXPECT_EQ(unknown.until, seen_at + period);
  quarantine young =
      quarantine_after_handshake(server("b", seconds(3)), "a", seen_at, period, {}, true);
  EXPECT_EQ(young.until, seen_at - seconds(3) + period);
}

TEST(Quarantine, AReconnectKeepsTheQuarantineSoFar) {
  quarantine earlier{seen_at + milliseconds(5000), "the endpoint reached a new server"};
  quarantine q =
      quarantine_after_handshake(server("b", seconds(3600)), "b", seen_at, period, earlier);
  EXPECT_EQ(q.until, earlier.until);
  EXPECT_EQ(q.reason, earlier.reason);
}

}  // namespace
}  // namespace redlock::testing
