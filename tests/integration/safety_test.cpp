// Mutual exclusion against real servers where the review found holes: a failed shorter
// extend on a paused majority, and one server voting twice under two endpoints.
#include <gmock/gmock.h>

#include "fixture.hpp"
#include "scripts.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class SafetyTest : public fleet_test {};

// Three nodes; A holds `res` for 10 s. Nodes 1 and 2 are paused, A's extend to 1 s fails,
// and the nodes run that PEXPIRE when they resume: the keys are gone about 1 s later. B may
// get the lock only once A's lease says it has nothing left.
TEST_F(SafetyTest, FailedShorterExtendOnAPausedMajorityEndsTheLeaseWhereTheKeysEnd) {
  start_fleet(3);
  client_options o = options_for(*fleet);
  o.node_timeout = milliseconds(300);
  client a = make_client(o);
  client b = make_client(o);
  result<lease> held = a.acquire("res", ttl_of(milliseconds(10000)));
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:res", held->token()); }));
  wait_all_connected(a);
  // Loads the extend script everywhere, so the paused nodes run the PEXPIRE when they
  // resume instead of answering NOSCRIPT to a connection that is gone.
  ASSERT_TRUE(held->extend(milliseconds(10000)));
  ASSERT_TRUE(eventually([&] {
    for (std::size_t i = 0; i < 3; ++i)
      if (fleet->command(i, {"SCRIPT", "EXISTS", std::string(detail::extend_script.sha1)}) != "1")
        return false;
    return true;
  }));
  fleet->pause(1);
  fleet->pause(2);
  result<void> extended = held->extend(milliseconds(1000));
  EXPECT_EQ(extended.error(), errc::no_quorum) << extended.message();
  EXPECT_LE(held->remaining(), milliseconds(1000));  // no longer the old ~10 s
  fleet->resume(1);
  fleet->resume(2);

  std::optional<result<lease>> taken;
  ASSERT_TRUE(eventually(
      [&] {
        taken.emplace(b.acquire("res"));
        return bool(*taken);
      },
      milliseconds(10000)))
      << "the keys never expired: " << (*taken).message();
  EXPECT_EQ(held->remaining(), std::chrono::steady_clock::duration::zero())
      << "two holders at once";
  EXPECT_LE(held->valid_until(), std::chrono::steady_clock::now());
}

// Endpoint 1 is endpoint 0's server through its unix socket; server 1 is killed. Endpoint 0
// and endpoint 1 must not make a majority of three.
TEST_F(SafetyTest, OneServerUnderTwoEndpointsVotesOnce) {
  node_options n;
  n.unix_socket = true;
  start_fleet(2, n);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0), fleet->unix_url(0), fleet->url(1)};
  client locks = make_client(o);
  wait_all_connected(locks);
  auto health = locks.health();
  ASSERT_TRUE(health);
  EXPECT_EQ((*health)[1].duplicate_of, fleet->url(0));
  EXPECT_EQ((*health)[1].run_id, (*health)[0].run_id);
  EXPECT_EQ((*health)[0].run_id.size(), 40u);
  EXPECT_EQ((*health)[0].duplicate_of, "");
  EXPECT_THAT((*health)[0].redis_version, ::testing::StartsWith("7."));

  fleet->kill(1);
  result<lease> held = locks.acquire("res");
  ASSERT_FALSE(held) << "one server made the majority";
  EXPECT_EQ(held.error(), errc::no_quorum) << held.message();
  const node_report& dup = held.tally().nodes()[1];
  EXPECT_EQ(dup.vote, vote::failed);
  EXPECT_EQ(dup.error, errc::duplicate_server);
  EXPECT_THAT(dup.detail, HasSubstr(fleet->url(0)));
  EXPECT_THAT(held.message(), HasSubstr("same server"));
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "res"); }));  // the clean-up runs
}

// The same server reached as an IPv4-mapped IPv6 address: a spelling the URL check cannot see.
TEST_F(SafetyTest, OneServerUnderAnotherAddressSpellingVotesOnce) {
  start_fleet(2);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0), "redis://[::ffff:127.0.0.1]:" + std::to_string(fleet->port(0)),
                 fleet->url(1)};
  client locks = make_client(o);
  wait_all_connected(locks);
  fleet->kill(1);
  result<lease> held = locks.acquire("res");
  ASSERT_FALSE(held);
  EXPECT_EQ(held.tally().nodes()[1].error, errc::duplicate_server) << held.message();
}

// Two spellings and no third server: no majority is possible whatever happens, and the
// readiness check says so at once.
TEST_F(SafetyTest, AFleetThatIsOneServerTwiceIsMisconfigured) {
  node_options n;
  n.unix_socket = true;
  start_fleet(1, n);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0), fleet->unix_url(0)};
  client locks = make_client(o);
  result<void> ready = locks.wait_ready(milliseconds(30000));
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error(), errc::misconfigured) << ready.message();
  EXPECT_THAT(ready.message(), HasSubstr("same server"));
  result<lease> held = locks.acquire("res");
  EXPECT_EQ(held.error(), errc::misconfigured) << held.message();
}

}  // namespace
}  // namespace redlock::testing
