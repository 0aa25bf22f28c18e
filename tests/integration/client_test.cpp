// The blocking client against real redis-server processes.
#include <gmock/gmock.h>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::Each;
using ::testing::HasSubstr;

class ClientOnFleet : public fleet_test, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(ClientOnFleet, AcquireSetsTheTokenEverywhereAndReleaseDeletesIt) {
  start_fleet(GetParam());
  client locks = make_client();
  result<lease> held = locks.acquire("orders:42", ttl_of(milliseconds(10000)));
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held->resource(), "orders:42");
  EXPECT_EQ(held->token().size(), 32u);
  EXPECT_GT(held->remaining(), milliseconds(9000));
  EXPECT_LE(held->remaining(), milliseconds(10000));
  // Every node that answered holds our token; at least a majority answered.
  EXPECT_GE(held.tally().granted(), GetParam() / 2 + 1);
  EXPECT_TRUE(eventually([&] { return every_node_has("redlock:orders:42", held->token()); }));
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    long long pttl = std::stoll(fleet->command(i, {"PTTL", "redlock:orders:42"}));
    EXPECT_GT(pttl, 9000);
    EXPECT_LE(pttl, 10000);
  }

  result<void> released = held->release();
  ASSERT_TRUE(released) << released.message();
  EXPECT_GE(released.tally().granted(), GetParam() / 2 + 1);  // decided at a majority
  EXPECT_FALSE(*held);
  // The rest are deleted right after.
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "orders:42"); }));
}

INSTANTIATE_TEST_SUITE_P(Nodes, ClientOnFleet, ::testing::Values(1, 3, 5),
                         [](const auto& p) { return "N" + std::to_string(p.param); });

class ClientTest : public fleet_test {};

TEST_F(ClientTest, SecondClientIsRefusedWhileTheFirstHolds) {
  start_fleet(3);
  client first = make_client();
  client second = make_client();
  ASSERT_TRUE(first.acquire("warmup-1"));
  ASSERT_TRUE(second.acquire("warmup-2"));
  result<lease> held = first.acquire("job");
  ASSERT_TRUE(held) << held.message();
  // Every node gets the holder's SET; the round may have decided before the last answered.
  EXPECT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
  result<lease> other = second.acquire("job");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error(), errc::held_elsewhere);
  EXPECT_GE(other.tally().refused(), 2u);
  EXPECT_EQ(other.tally().granted(), 0u);
  // The holder's token is untouched by the refused attempt.
  EXPECT_THAT(values_of("redlock:job"), Each(held->token()));
  ASSERT_TRUE(held->release());
  EXPECT_TRUE(second.acquire("job"));
}

TEST_F(ClientTest, WaitingAcquireGetsTheLockOnceReleased) {
  start_fleet(3);
  client first = make_client();
  client second = make_client();
  result<lease> held = first.acquire("job");
  ASSERT_TRUE(held);
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(200));
    (void)held->release();
  });
  acquire_options wait;
  wait.wait = milliseconds(10000);
  result<lease> next = second.acquire("job", wait);
  releaser.join();
  ASSERT_TRUE(next) << next.message();
  EXPECT_GE(next.tally().attempts(), 2);
}

// A stale lease (its lock expired and someone else took it) must not delete the new owner's
// key: release is compare-and-delete.
TEST_F(ClientTest, ReleaseByANonOwnerLeavesTheLockInPlace) {
  start_fleet(3);
  client stale_owner = make_client();
  client owner = make_client();
  result<lease> stale = stale_owner.acquire("job", ttl_of(milliseconds(600)));
  ASSERT_TRUE(stale);
  std::this_thread::sleep_for(milliseconds(700));
  result<lease> current = owner.acquire("job");
  ASSERT_TRUE(current) << current.message();
  result<void> late = stale->release();
  ASSERT_TRUE(late) << late.message();  // releasing an expired lock is not an error
  EXPECT_EQ(late.tally().granted(), 0u);
  EXPECT_GE(late.tally().refused(), 2u);
  EXPECT_THAT(values_of("redlock:job"), Each(current->token()));
}

TEST_F(ClientTest, TheLockExpiresAfterItsTtl) {
  start_fleet(3);
  client first = make_client();
  client second = make_client();
  result<lease> held = first.acquire("job", ttl_of(milliseconds(600)));
  ASSERT_TRUE(held);
  EXPECT_FALSE(second.acquire("job"));
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_EQ(held->remaining(), std::chrono::steady_clock::duration::zero());
  EXPECT_THAT(values_of("redlock:job"), Each("(nil)"));
  EXPECT_TRUE(second.acquire("job"));
  // Extending an expired lease is refused without touching the new owner's key.
  result<void> late = held->extend(milliseconds(5000));
  EXPECT_EQ(late.error(), errc::lock_lost);
}

TEST_F(ClientTest, ExtendKeepsTheLockPastItsFirstTtl) {
  start_fleet(3);
  client first = make_client();
  client second = make_client();
  result<lease> held = first.acquire("job", ttl_of(milliseconds(800)));
  ASSERT_TRUE(held);
  auto before = held->valid_until();
  result<void> extended = held->extend(milliseconds(10000));
  ASSERT_TRUE(extended) << extended.message();
  EXPECT_EQ(extended.tally().granted() + extended.tally().unanswered(), 3u);
  EXPECT_GT(held->valid_until(), before + milliseconds(5000));
  std::this_thread::sleep_for(milliseconds(1000));  // past the first ttl
  EXPECT_EQ(second.acquire("job").error(), errc::held_elsewhere);
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    EXPECT_GT(std::stoll(fleet->command(i, {"PTTL", "redlock:job"})), 5000);
  }
}

TEST_F(ClientTest, ExtendNeverRecreatesAKeyThatIsGone) {
  start_fleet(3);
  client locks = make_client();
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held);
  // The acquire returns at a majority: wait for the last SET, or it could land after the DEL
  // and recreate the key the test removes.
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
  for (std::size_t i = 0; i < 2; ++i)
    fleet->command(i, {"DEL", "redlock:job"});
  result<void> extended = held->extend(milliseconds(10000));
  EXPECT_EQ(extended.error(), errc::lock_lost);
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:job"}), "0");
  EXPECT_EQ(fleet->command(1, {"EXISTS", "redlock:job"}), "0");
}

TEST_F(ClientTest, TwoOfFiveNodesKilledStillGrants) {
  start_fleet(5);
  client locks = make_client();
  ASSERT_TRUE(locks.acquire("warmup"));
  wait_all_connected(locks);
  fleet->kill(1);
  fleet->kill(3);
  wait_noticed_down(locks, {1, 3});
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().granted(), 3u);
  EXPECT_EQ(held.tally().failed(), 2u);
  result<void> released = held->release();
  EXPECT_TRUE(released) << released.message();
  EXPECT_EQ(released.tally().granted(), 3u);
}

TEST_F(ClientTest, ThreeOfFiveKilledFailsFastWithATallyThatSaysSo) {
  start_fleet(5);
  client_options o = options_for(*fleet);
  o.node_timeout = milliseconds(3000);  // a wait on a dead node would show
  client locks = make_client(o);
  ASSERT_TRUE(locks.acquire("warmup"));
  wait_all_connected(locks);
  fleet->kill(0);
  fleet->kill(2);
  fleet->kill(4);
  auto start = std::chrono::steady_clock::now();
  result<lease> held = locks.acquire("job");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::no_quorum);
  EXPECT_LT(took, milliseconds(1500));   // far below node_timeout: nobody waited for the dead
  EXPECT_GE(held.tally().failed(), 2u);  // decided at the third failure, maybe before the last
  for (std::size_t i : {0u, 2u, 4u}) {
    const node_report& r = held.tally().nodes()[i];
    if (r.vote == vote::unanswered) continue;
    EXPECT_EQ(r.vote, vote::failed) << r.endpoint;
    EXPECT_EQ(r.endpoint, fleet->url(i));
    EXPECT_THAT(held.message(), HasSubstr(fleet->url(i)));
  }
  // Nothing is left locked on the live nodes.
  EXPECT_TRUE(eventually([&] {
    return fleet->command(1, {"EXISTS", "redlock:job"}) == "0" &&
           fleet->command(3, {"EXISTS", "redlock:job"}) == "0";
  }));
}

TEST_F(ClientTest, KilledNodeIsUsedAgainAfterItRestarts) {
  start_fleet(3);
  client locks = make_client();
  ASSERT_TRUE(locks.acquire("warmup"));
  wait_all_connected(locks);
  fleet->kill(2);
  wait_noticed_down(locks, {2});
  result<lease> during = locks.acquire("a");
  ASSERT_TRUE(during);
  EXPECT_EQ(during.tally().failed(), 1u);
  fleet->restart(2);
  EXPECT_TRUE(eventually([&] {
    auto h = locks.health();
    return h && (*h)[2].state == node_state::connected;
  }));
  result<lease> after = locks.acquire("after");
  ASSERT_TRUE(after);
  EXPECT_EQ(after.tally().failed(), 0u);
  EXPECT_TRUE(eventually([&] {
    return fleet->command(2, {"GET", "redlock:after"}) == after->token();
  }));
}

TEST_F(ClientTest, AcquireRightAfterCreateWaitsForTheConnections) {
  start_fleet(3);
  client locks = make_client();
  result<lease> held = locks.acquire("job");  // nodes still connecting: requests wait in line
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().failed(), 0u);
  EXPECT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
}

TEST_F(ClientTest, ReleaseWorksAfterTheScriptCacheIsFlushed) {
  start_fleet(3);
  client locks = make_client();
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held);
  ASSERT_TRUE(held->extend(milliseconds(9000)));  // scripts now cached
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_EQ(fleet->command(i, {"SCRIPT", "FLUSH"}), "OK");
  ASSERT_TRUE(held->extend(milliseconds(9000)));  // NOSCRIPT, then EVAL
  result<void> released = held->release();
  ASSERT_TRUE(released) << released.message();
  EXPECT_GE(released.tally().granted(), 2u);
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
}

TEST_F(ClientTest, DestroyedLeaseReleasesInTheBackground) {
  start_fleet(3);
  client locks = make_client();
  {
    result<lease> held = locks.acquire("job");
    ASSERT_TRUE(held);
  }
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
  // Move-assigning over a held lease releases the old one too.
  result<lease> a = locks.acquire("a");
  result<lease> b = locks.acquire("b");
  ASSERT_TRUE(a && b);
  *a = std::move(*b);
  EXPECT_EQ(a->resource(), "b");
  EXPECT_FALSE(*b);
  EXPECT_TRUE(eventually([&] { return fleet->command(0, {"EXISTS", "redlock:a"}) == "0"; }));
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:b"}), "1");
}

TEST_F(ClientTest, ClientDestructorDeliversPendingReleases) {
  start_fleet(3);
  {
    client locks = make_client();
    result<lease> held = locks.acquire("job");
    ASSERT_TRUE(held);
    lease moved = std::move(*held);
    (void)moved;
  }  // the lease's release was posted before the client closed
  EXPECT_THAT(values_of("redlock:job"), Each("(nil)"));
}

TEST_F(ClientTest, LeaseOutlivingItsClientReportsClientClosed) {
  start_fleet(1);
  lease orphan;
  {
    client locks = make_client();
    result<lease> held = locks.acquire("job");
    ASSERT_TRUE(held);
    orphan = std::move(*held);
  }
  EXPECT_EQ(orphan.extend(milliseconds(5000)).error(), errc::client_closed);
  EXPECT_EQ(orphan.release().error(), errc::client_closed);
  EXPECT_FALSE(orphan);
}

TEST_F(ClientTest, EmptyLeaseOperationsAreErrors) {
  lease empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.release().error(), errc::empty_lease);
  EXPECT_EQ(empty.extend(milliseconds(1000)).error(), errc::empty_lease);
  EXPECT_EQ(empty.remaining(), std::chrono::steady_clock::duration::zero());
  EXPECT_EQ(empty.token(), "");
}

TEST_F(ClientTest, BadOptionsAreRefusedByName) {
  client_options o;
  auto none = client::create(o);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), errc::invalid_option);
  EXPECT_THAT(none.message(), HasSubstr("endpoints"));
  o.endpoints = {"redis://127.0.0.1:1", "rediss://127.0.0.1:2"};
  o.tls.ca_file = "/nonexistent/ca.crt";
  auto tls = client::create(o);
  EXPECT_EQ(tls.error(), errc::invalid_option);
  EXPECT_THAT(tls.message(), HasSubstr("tls.ca_file"));
  EXPECT_THAT(tls.message(), HasSubstr("/nonexistent/ca.crt"));
  o.tls = {};
  o.tls.cert_file = "/nonexistent/client.crt";
  EXPECT_THAT(client::create(o).message(), HasSubstr("tls.key_file: required with tls.cert_file"));
  o.tls = {};

  start_fleet(1);
  client locks = make_client();
  auto empty = locks.acquire("");
  EXPECT_EQ(empty.error(), errc::invalid_option);
  EXPECT_THAT(empty.message(), HasSubstr("resource"));
  auto short_ttl = locks.acquire("r", ttl_of(milliseconds(100)));  // node_timeout is 500 ms
  EXPECT_EQ(short_ttl.error(), errc::invalid_option);
  EXPECT_THAT(short_ttl.message(), HasSubstr("ttl"));
  result<lease> held = locks.acquire("r");
  ASSERT_TRUE(held);
  EXPECT_EQ(held->extend(milliseconds(0)).error(), errc::invalid_option);
}

TEST_F(ClientTest, KeyPrefixAndBinaryResourceNames) {
  start_fleet(1);
  client_options o = options_for(*fleet);
  o.key_prefix = "app:locks:";
  client locks = make_client(o);
  std::string resource("bin\0ary\xff", 8);
  result<lease> held = locks.acquire(resource);
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held->resource(), resource);
  EXPECT_EQ(fleet->command(0, {"GET", "app:locks:" + resource}), held->token());
}

TEST_F(ClientTest, UnixSocketIpv6AndHostNameEndpoints) {
  node_options n;
  n.unix_socket = true;
  start_fleet(3, n);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->unix_url(0) + "?db=3",
                 "redis://localhost:" + std::to_string(fleet->port(1)),
                 fleet->ipv6() ? fleet->url6(2) : fleet->url(2)};
  client locks = make_client(o);
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held.tally().failed(), 0u) << held.message();
  EXPECT_TRUE(eventually([&] {
    return fleet->command(0, {"INFO", "keyspace"}).find("db3:keys=1") != std::string::npos &&
           fleet->command(1, {"GET", "redlock:job"}) == held->token() &&
           fleet->command(2, {"GET", "redlock:job"}) == held->token();
  }));
}

TEST_F(ClientTest, UnresolvableHostFailsThatNodeWithTheReason) {
  start_fleet(2);
  client_options o = options_for(*fleet);
  o.endpoints.push_back("redis://no-such-host.invalid:6379");
  client locks = make_client(o);
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  const node_report& r = held.tally().nodes()[2];
  if (r.vote == vote::failed) {
    EXPECT_THAT(r.detail, HasSubstr("no-such-host.invalid"));
  }
  EXPECT_EQ(held.tally().granted(), 2u);
}

}  // namespace
}  // namespace redlock::testing
