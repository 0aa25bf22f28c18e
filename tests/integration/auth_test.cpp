// AUTH and SELECT on connect, with ACL users and requirepass; the server's words reach the
// tally when they refuse.
#include <gmock/gmock.h>

#include <thread>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class AuthTest : public fleet_test {
 protected:
  void start_acl_fleet() {
    node_options n;
    n.acl_users = {
        "user locker on >s3cret ~redlock:* +set +get +del +pexpire +pttl +eval +evalsha +ping "
        "+select +info",
        "user reader on >r3ad ~* +get +ping +info",
        "user waiter on >w4it ~redlock:* &redlock:* +set +get +del +pexpire +pttl +eval +evalsha "
        "+ping +info +publish +subscribe +unsubscribe +pubsub|numsub",
        "user noget on >n0get ~redlock:* +set +del +pexpire +pttl +eval +evalsha +ping +info",
        "user fencer on >f3nce ~redlock:* +set +get +del +pexpire +pttl +eval +evalsha +ping "
        "+info +hget +hset +hexists +hscan"};
    n.requirepass = "default-pw";
    start_fleet(3, n);
  }
  client_options as(const std::string& credentials, const std::string& path = "") {
    client_options o = options_for(*fleet);
    for (std::size_t i = 0; i < fleet->size(); ++i) {
      o.endpoints[i] =
          "redis://" + credentials + "@127.0.0.1:" + std::to_string(fleet->port(i)) + path;
    }
    return o;
  }
};

TEST_F(AuthTest, AclUserWithTheRightPasswordLocks) {
  start_acl_fleet();
  client locks = make_client(as("locker:s3cret"));
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  EXPECT_TRUE(held->extend(milliseconds(5000)));
  result<ownership> owned = held->check_ownership();  // the documented set allows every call
  EXPECT_TRUE(owned) << owned.message();
  result<void> released = held->release();
  ASSERT_TRUE(released) << released.message();
  EXPECT_GE(released.tally().granted(), 2u);  // decided once a majority confirmed
}

// An ACL that denies GET inside the scripts is a refusal, never "our key is gone": the plain
// SET still takes the lock, but extend and release fail with the server's words instead of
// reporting a release that left the key, and a lock on several resources is refused as
// misconfigured instead of "held by another owner".
TEST_F(AuthTest, AScriptCommandTheAclDeniesIsARefusalNotAnAbsentKey) {
  start_acl_fleet();
  client locks = make_client(as("noget:n0get"));
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  result<void> extended = held->extend(milliseconds(5000));
  EXPECT_EQ(extended.error(), errc::misconfigured) << extended.message();
  EXPECT_THAT(extended.message(), HasSubstr("can't run this command"));
  result<void> released = held->release();
  EXPECT_FALSE(released) << "a release that could not run reported success";
  EXPECT_THAT(released.message(), HasSubstr("can't run this command"));
  result<lease> both = locks.acquire_all({"a", "b"});
  EXPECT_EQ(both.error(), errc::misconfigured) << both.message();
}

// Fencing, on a fresh fleet whose nodes must be seeded first, needs the hash commands the
// README lists; without them the fenced acquire is misconfigured, with the server's words.
TEST_F(AuthTest, FencingWorksWithTheDocumentedPermissionsAndIsMisconfiguredWithout) {
  start_acl_fleet();
  acquire_options fenced;
  fenced.fencing = true;
  client fencer = make_client(as("fencer:f3nce"));
  result<lease> held = fencer.acquire("job", fenced);
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(held->fence(), std::optional<std::uint64_t>(1));
  ASSERT_TRUE(held->release());
  client locker = make_client(as("locker:s3cret"));
  result<lease> refused = locker.acquire("other", fenced);
  EXPECT_EQ(refused.error(), errc::misconfigured) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("can't run this command"));
}

// Waiting by notification needs PUBLISH (in the release script) and SUBSCRIBE on the lock
// keys' channels. Without them a waiter still gets the lock, by its retry delay; with them,
// by the release's notification.
TEST_F(AuthTest, WaitingWorksWithAndWithoutThePubSubPermissions) {
  start_acl_fleet();
  for (const char* user : {"locker:s3cret", "waiter:w4it"}) {
    SCOPED_TRACE(user);
    client_options o = as(user);
    o.retry_delay = milliseconds(1500);
    o.retry_jitter = milliseconds(0);
    client holder = make_client(o);
    client waiter = make_client(o);
    result<lease> held = holder.acquire("job");
    ASSERT_TRUE(held) << held.message();
    std::thread release_soon([&] {
      std::this_thread::sleep_for(milliseconds(500));
      EXPECT_TRUE(held->release());
    });
    acquire_options patient;
    patient.wait = milliseconds(10000);
    auto start = std::chrono::steady_clock::now();
    result<lease> got = waiter.acquire("job", patient);
    auto took = std::chrono::steady_clock::now() - start;
    release_soon.join();
    ASSERT_TRUE(got) << got.message();
    if (std::string(user).rfind("waiter", 0) == 0) {
      EXPECT_LT(took, milliseconds(1400));  // woken by the release, before the first retry
    } else {
      EXPECT_GE(took, milliseconds(1500));  // nothing published: the retry found it free
    }
    EXPECT_TRUE(got->release());
  }
}

// A mistake in the configuration must not look like an outage: the acquire does not spend its
// wait budget retrying, and says why in a code that is not retryable.
TEST_F(AuthTest, WrongPasswordIsMisconfiguredAtOnceWithTheServersWords) {
  start_acl_fleet();
  client locks = make_client(as("locker:wrong"));
  acquire_options o;
  o.wait = milliseconds(2000);
  result<lease> held = locks.acquire("job", o);
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::misconfigured) << held.message();
  EXPECT_FALSE(is_retryable(held.error()));
  EXPECT_EQ(held.tally().attempts(), 1);
  std::size_t seen = 0;
  for (const node_report& r : held.tally().nodes()) {
    if (r.vote != vote::failed) continue;
    ++seen;
    EXPECT_EQ(r.error, errc::config_refused) << r.detail;
    EXPECT_THAT(r.detail, HasSubstr("WRONGPASS"));
    EXPECT_THAT(r.endpoint, ::testing::Not(HasSubstr("wrong")));  // password masked
  }
  EXPECT_GE(seen, 2u);
  EXPECT_THAT(held.message(), HasSubstr("WRONGPASS"));
  EXPECT_THAT(held.message(), ::testing::Not(HasSubstr(":wrong@")));
}

TEST_F(AuthTest, MissingPermissionIsMisconfiguredWithTheServersWords) {
  start_acl_fleet();
  client locks = make_client(as("reader:r3ad"));
  result<lease> held = locks.acquire("job");
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::misconfigured) << held.message();
  EXPECT_GE(held.tally().failed(), 2u);  // the round ends at the second failure
  for (const node_report& r : held.tally().nodes()) {
    if (r.vote == vote::unanswered) continue;
    EXPECT_EQ(r.error, errc::config_refused);
    EXPECT_THAT(r.detail, HasSubstr("NOPERM"));
  }
}

TEST_F(AuthTest, RequirepassWithPasswordOnlyUrl) {
  start_acl_fleet();
  client locks = make_client(as(":default-pw"));
  EXPECT_TRUE(locks.acquire("job"));
}

TEST_F(AuthTest, NoCredentialsIsNoauth) {
  start_acl_fleet();
  client locks = make_client();
  result<lease> held = locks.acquire("job");
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::misconfigured);
  EXPECT_THAT(held.message(), HasSubstr("NOAUTH"));
}

TEST_F(AuthTest, WaitReadyFailsFastOnAWrongPassword) {
  start_acl_fleet();
  client locks = make_client(as("locker:wrong"));
  result<void> ready = locks.wait_ready(milliseconds(30000));
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error(), errc::misconfigured);
  EXPECT_THAT(ready.message(), HasSubstr("WRONGPASS"));
  EXPECT_THAT(ready.message(), ::testing::Not(HasSubstr(":wrong@")));  // password masked
}

TEST_F(AuthTest, WaitReadySucceedsWithTheRightPassword) {
  start_acl_fleet();
  client locks = make_client(as("locker:s3cret"));
  result<void> ready = locks.wait_ready(milliseconds(30000));
  ASSERT_TRUE(ready) << ready.message();
  EXPECT_GE(ready.tally().granted(), 2u);
}

TEST_F(AuthTest, SelectPutsTheKeyInTheChosenDatabase) {
  start_fleet(1);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0) + "/5"};
  client locks = make_client(o);
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  EXPECT_EQ(fleet->command(0, {"EXISTS", "redlock:job"}), "0");  // not in db 0
  EXPECT_THAT(fleet->command(0, {"INFO", "keyspace"}), HasSubstr("db5:keys=1"));
}

TEST_F(AuthTest, SelectOfAMissingDatabaseIsReported) {
  start_fleet(1);
  client_options o = options_for(*fleet);
  o.endpoints = {fleet->url(0) + "/999"};  // redis has 16 databases by default
  client locks = make_client(o);
  result<lease> held = locks.acquire("job");
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::misconfigured);
  EXPECT_EQ(held.tally().nodes()[0].error, errc::config_refused);
  EXPECT_THAT(held.tally().nodes()[0].detail, HasSubstr("SELECT"));
}

}  // namespace
}  // namespace redlock::testing
