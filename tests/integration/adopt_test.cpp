// A lock handed from one client to another (lease::detach, client::adopt), and the per-node
// view of a resource (client::inspect), on real servers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fault_proxy.hpp"
#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class AdoptTest : public fleet_test {};

TEST_F(AdoptTest, ALeaseDetachedByOneClientIsAdoptedExtendedAndReleasedByAnother) {
  start_fleet(3);
  std::string token;
  {
    client first = make_client();
    auto held = first.acquire("handed", ttl_of(milliseconds(20'000)));
    ASSERT_TRUE(held) << held.message();
    token = held->token();
    ASSERT_TRUE(held->detach());
    EXPECT_FALSE(*held);
    EXPECT_EQ(held->detach().error(), errc::empty_lease);
  }  // the first client closes: a detached lock is not released
  for (std::size_t i = 0; i < fleet->size(); ++i)
    EXPECT_EQ(fleet->command(i, {"GET", "redlock:handed"}), token);

  client second = make_client();
  auto adopted = second.adopt({"handed"}, token, 7);
  ASSERT_TRUE(adopted) << adopted.message();
  EXPECT_EQ(adopted->token(), token);
  EXPECT_EQ(adopted->fence(), 7u);
  EXPECT_FALSE(adopted->lost());
  EXPECT_GT(adopted->remaining(), milliseconds(15'000));
  EXPECT_LE(adopted->remaining(), milliseconds(20'000));
  ASSERT_TRUE(adopted->extend(milliseconds(40'000)));
  EXPECT_GT(adopted->remaining(), milliseconds(30'000));
  ASSERT_TRUE(adopted->release());
  EXPECT_TRUE(keys_gone_soon(*fleet, "handed"));
}

TEST_F(AdoptTest, ADetachedLeaseIsNoLongerAutoExtendedNorDeclaredLost) {
  start_fleet(3);
  client locks = make_client();
  acquire_options o = ttl_of(milliseconds(1'500));
  o.auto_extend.enabled = true;
  std::atomic<int> lost_calls{0};
  o.on_lost = [&](const lease_lost&) { ++lost_calls; };
  auto held = locks.acquire("kept", o);
  ASSERT_TRUE(held) << held.message();
  // Auto-extension keeps it past its ttl while the lease holds it...
  std::this_thread::sleep_for(milliseconds(2'000));
  ASSERT_EQ(fleet->command(0, {"GET", "redlock:kept"}), held->token());
  ASSERT_TRUE(held->detach());
  // ...and not once it is detached: the keys expire with their ttl, and nobody is told.
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "kept"); }, milliseconds(5'000)));
  EXPECT_EQ(lost_calls.load(), 0);
}

TEST_F(AdoptTest, ALockWhoseExtendMayStillRunLateIsNotHandedOver) {
  start_fleet(3);
  std::vector<std::unique_ptr<fault_proxy>> proxies;
  client_options o = options_for(*fleet);
  o.endpoints.clear();
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    proxies.push_back(std::make_unique<fault_proxy>(fleet->port(i)));
    o.endpoints.push_back(proxies.back()->url());
  }
  client locks = make_client(o);
  wait_all_connected(locks);
  auto held = locks.acquire("late", ttl_of(milliseconds(20'000)));
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:late", held->token()); }));
  proxies[2]->blackhole();  // node 2 gets the PEXPIRE, and it may run there whenever
  ASSERT_TRUE(held->extend(milliseconds(10'000)));
  auto refused = held->detach();
  EXPECT_EQ(refused.error(), errc::handover_unsafe) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr(proxies[2]->url() + " timed out"));
  ASSERT_TRUE(*held) << "the lease keeps the lock";
  proxies[2]->pass();
  EXPECT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "late"); }));
}

TEST_F(AdoptTest, AnAdoptedLeaseIsReleasedWhenItsClientCloses) {
  start_fleet(3);
  client first = make_client();
  auto held = first.acquire("closing");
  ASSERT_TRUE(held) << held.message();
  std::string token = held->token();
  ASSERT_TRUE(held->detach());
  {
    client second = make_client();
    auto adopted = second.adopt({"closing"}, token);
    ASSERT_TRUE(adopted) << adopted.message();
  }  // the adopted lease is dropped, then its client closes
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "closing"); }));
}

TEST_F(AdoptTest, AnotherTokenOrALockNoLongerHeldIsNotAdopted) {
  start_fleet(3);
  client locks = make_client();
  wait_all_connected(locks);  // so that node 0 has the key the check below reads
  auto held = locks.acquire("mine");
  ASSERT_TRUE(held) << held.message();

  auto stranger = locks.adopt({"mine"}, std::string(32, 'a'));
  EXPECT_EQ(stranger.error(), errc::lock_lost) << stranger.message();
  EXPECT_THAT(stranger.message(), HasSubstr("a majority no longer holds our token"));
  EXPECT_GE(stranger.tally().refused(), 2u);
  EXPECT_EQ(fleet->command(0, {"GET", "redlock:mine"}), held->token()) << "nothing was touched";

  const std::string token = held->token();
  ASSERT_TRUE(held->release());
  EXPECT_EQ(locks.adopt({"mine"}, token).error(), errc::lock_lost);
}

TEST_F(AdoptTest, BadArgumentsAreRefusedAndNamed) {
  start_fleet(1);
  client locks = make_client();
  const std::string token(32, 'b');
  auto no_resource = locks.adopt({}, token);
  EXPECT_EQ(no_resource.error(), errc::invalid_option);
  EXPECT_THAT(no_resource.message(), HasSubstr("at least one resource"));
  EXPECT_EQ(locks.adopt({""}, token).error(), errc::invalid_option);
  EXPECT_EQ(locks.adopt({"a", "a"}, token).error(), errc::invalid_option);
  for (const std::string& bad :
       {std::string("short"), std::string(32, 'G'), std::string(33, 'a'), std::string(32, 'A')}) {
    auto refused = locks.adopt({"r"}, bad);
    EXPECT_EQ(refused.error(), errc::invalid_option) << bad;
    EXPECT_THAT(refused.message(), HasSubstr("token: must be 32 lowercase hex digits"));
  }
}

TEST_F(AdoptTest, InspectShowsEachNodeHeldFreeOrUnknownWithoutTheToken) {
  start_fleet(3);
  client locks = make_client();
  wait_all_connected(locks);
  auto held = locks.acquire("seen", ttl_of(milliseconds(20'000)));
  ASSERT_TRUE(held) << held.message();
  fleet->command(1, {"DEL", "redlock:seen"});
  fleet->kill(2);
  auto nodes = locks.inspect("seen");
  ASSERT_TRUE(nodes) << nodes.message();
  ASSERT_EQ(nodes->size(), 3u);
  EXPECT_EQ((*nodes)[0].endpoint, fleet->url(0));
  EXPECT_EQ((*nodes)[0].state, key_state::held);
  EXPECT_GT((*nodes)[0].ttl_left, milliseconds(10'000));
  EXPECT_LE((*nodes)[0].ttl_left, milliseconds(20'000));
  EXPECT_EQ((*nodes)[1].state, key_state::free);
  EXPECT_EQ((*nodes)[2].state, key_state::unknown);
  EXPECT_FALSE((*nodes)[2].error.empty());
  EXPECT_STREQ(to_string(key_state::unknown), "unknown");
  EXPECT_EQ(locks.inspect("").error(), errc::invalid_option);
}

}  // namespace
}  // namespace redlock::testing
