// release_notices on real servers, on a loop run by the test's thread: a key is subscribed on
// every node at its first watch and stays subscribed while watched and for the linger after
// its last unwatch; watched again within the linger it is not subscribed again; after the
// linger it is unsubscribed; watched again right after that, it is subscribed again and
// reported delivering once confirmed. (How the engine acts on the notices is unit-tested in
// tests/unit/waiting_test.cpp.)
#include <gmock/gmock.h>
#include <uv.h>

#include <memory>

#include "endpoint.hpp"
#include "engine.hpp"
#include "fixture.hpp"
#include "loop_runner.hpp"
#include "release_notices.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds linger{300};

class ReleaseNoticesTest : public fleet_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    if (IsSkipped()) return;
    start_fleet(2);
    loop_ = std::make_unique<loop_runner>();
    client_options o = options_for(*fleet);
    // No command nodes: only notice() is called on the engine, and no acquire watches a key.
    engine_ = std::make_unique<detail::engine>(detail::engine_config::from(o),
                                               std::vector<detail::node_link*>{}, loop_->clock(),
                                               loop_->services());
    std::vector<detail::node_config> subscribers;
    for (const std::string& url : fleet->urls()) {
      result<detail::endpoint> where = detail::parse_endpoint(url);
      ASSERT_TRUE(where) << where.message();
      subscribers.push_back(detail::node_config::from(*where, o, 1, nullptr));
    }
    notices_ = std::make_unique<detail::release_notices>(
        loop_->loop(), loop_->services(), loop_->clock(), std::move(subscribers), *engine_, linger);
  }
  void TearDown() override {
    if (notices_) {
      bool closed = false;
      notices_->close([&] { closed = true; });
      run_until([&] { return closed; });
    }
    notices_.reset();
    engine_.reset();
    loop_.reset();
    fleet_test::TearDown();
  }

  bool run_until(const std::function<bool()>& condition) { return loop_->run_until(condition); }
  void run_for(milliseconds d) { loop_->run_for(d); }
  // Whether every node counts `subscribed` connections on the channel `key`.
  bool subscribed_everywhere(const std::string& key, const std::string& subscribed) const {
    for (std::size_t i = 0; i < fleet->size(); ++i) {
      reply r = fleet->call(i, {"PUBSUB", "NUMSUB", key});
      if (r.elements.size() != 2 || r.elements[1].render() != subscribed) return false;
    }
    return true;
  }
  // SUBSCRIBE commands node `i` has run (INFO commandstats).
  long long subscribes_on(std::size_t i) const {
    std::string stats = fleet->command(i, {"INFO", "commandstats"});
    std::size_t at = stats.find("cmdstat_subscribe:calls=");
    return at == std::string::npos ? 0 : std::stoll(stats.substr(at + 24));
  }

  std::unique_ptr<loop_runner> loop_;
  std::unique_ptr<detail::engine> engine_;
  std::unique_ptr<detail::release_notices> notices_;
};

TEST_F(ReleaseNoticesTest, AKeyStaysSubscribedWhileWatchedAndForTheLingerAfter) {
  EXPECT_FALSE(notices_->watch("redlock:job"));  // nothing is connected yet
  ASSERT_TRUE(run_until([&] { return notices_->delivers("redlock:job"); }));
  ASSERT_TRUE(run_until([&] { return subscribed_everywhere("redlock:job", "1"); }));
  EXPECT_TRUE(notices_->watch("redlock:job"));  // a second waiter: confirmed already
  notices_->unwatch("redlock:job");
  run_for(linger + milliseconds(200));
  EXPECT_TRUE(subscribed_everywhere("redlock:job", "1")) << "unsubscribed with a waiter left";
  notices_->unwatch("redlock:job");
  run_for(linger / 3);
  EXPECT_TRUE(subscribed_everywhere("redlock:job", "1")) << "unsubscribed within the linger";
  EXPECT_EQ(notices_->keys(), 1u);
  ASSERT_TRUE(run_until([&] { return subscribed_everywhere("redlock:job", "0"); }));
  EXPECT_EQ(notices_->keys(), 0u);
}

TEST_F(ReleaseNoticesTest, WatchedAgainWithinTheLingerItIsNotSubscribedAgain) {
  (void)notices_->watch("redlock:job");
  ASSERT_TRUE(run_until([&] { return notices_->delivers("redlock:job"); }));
  ASSERT_TRUE(run_until([&] { return subscribed_everywhere("redlock:job", "1"); }));
  std::vector<long long> before{subscribes_on(0), subscribes_on(1)};
  notices_->unwatch("redlock:job");
  run_for(linger / 3);
  EXPECT_TRUE(notices_->watch("redlock:job"));  // still confirmed: delivering at once
  run_for(linger + milliseconds(200));          // the linger timer was cancelled
  EXPECT_TRUE(subscribed_everywhere("redlock:job", "1"));
  EXPECT_EQ(subscribes_on(0), before[0]);
  EXPECT_EQ(subscribes_on(1), before[1]);
  notices_->unwatch("redlock:job");
  ASSERT_TRUE(run_until([&] { return subscribed_everywhere("redlock:job", "0"); }));
}

// Forgotten (the linger passed) and watched again at once, before the servers answered the
// UNSUBSCRIBE: subscribed again, and reported delivering only by the new confirmation.
TEST_F(ReleaseNoticesTest, WatchedAgainRightAfterTheLingerItIsSubscribedAgain) {
  (void)notices_->watch("redlock:job");
  ASSERT_TRUE(run_until([&] { return subscribed_everywhere("redlock:job", "1"); }));
  notices_->unwatch("redlock:job");
  ASSERT_TRUE(run_until([&] { return notices_->keys() == 0; }));  // forgotten: UNSUBSCRIBE sent
  EXPECT_FALSE(notices_->watch("redlock:job"));  // a new subscription, not confirmed yet
  EXPECT_FALSE(notices_->delivers("redlock:job"));
  ASSERT_TRUE(run_until([&] { return notices_->delivers("redlock:job"); }));
  EXPECT_TRUE(run_until([&] {
    return subscribes_on(0) == 2 && subscribes_on(1) == 2 &&
           subscribed_everywhere("redlock:job", "1");
  }));
  notices_->unwatch("redlock:job");
}

TEST_F(ReleaseNoticesTest, AClientThatNeverWaitsOpensNoSubscriberConnection) {
  run_for(milliseconds(300));
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    std::string clients = fleet->command(i, {"CLIENT", "LIST"});
    EXPECT_EQ(clients.find("cmd=subscribe"), std::string::npos) << clients;
    EXPECT_EQ(clients.find("sub=1"), std::string::npos) << clients;
  }
}

}  // namespace
}  // namespace redlock::testing
