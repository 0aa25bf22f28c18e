// AUTH and SELECT on connect, with ACL users and requirepass; the server's words reach the
// tally when they refuse.
#include <gmock/gmock.h>

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
        "user locker on >s3cret ~redlock:* +set +get +del +pexpire +eval +evalsha +ping +select",
        "user reader on >r3ad ~* +get +ping"};
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
  result<void> released = held->release();
  ASSERT_TRUE(released) << released.message();
  EXPECT_GE(released.tally().granted(), 2u);  // decided once a majority confirmed
}

TEST_F(AuthTest, WrongPasswordIsReportedPerNodeWithTheServersWords) {
  start_acl_fleet();
  client locks = make_client(as("locker:wrong"));
  result<lease> held = locks.acquire("job");
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), errc::no_quorum);
  std::size_t seen = 0;
  for (const node_report& r : held.tally().nodes()) {
    if (r.vote != vote::failed) continue;
    ++seen;
    EXPECT_EQ(r.error, errc::handshake_failed) << r.detail;
    EXPECT_THAT(r.detail, HasSubstr("WRONGPASS"));
    EXPECT_THAT(r.endpoint, ::testing::Not(HasSubstr("wrong")));  // password masked
  }
  EXPECT_GE(seen, 2u);
  EXPECT_THAT(held.message(), HasSubstr("WRONGPASS"));
  EXPECT_THAT(held.message(), ::testing::Not(HasSubstr(":wrong@")));
}

TEST_F(AuthTest, MissingPermissionIsAServerErrorInTheTally) {
  start_acl_fleet();
  client locks = make_client(as("reader:r3ad"));
  result<lease> held = locks.acquire("job");
  ASSERT_FALSE(held);
  EXPECT_GE(held.tally().failed(), 2u);  // the round ends at the second failure
  for (const node_report& r : held.tally().nodes()) {
    if (r.vote == vote::unanswered) continue;
    EXPECT_EQ(r.error, errc::server_error);
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
  EXPECT_THAT(held.message(), HasSubstr("NOAUTH"));
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
  EXPECT_EQ(held.tally().nodes()[0].error, errc::handshake_failed);
  EXPECT_THAT(held.tally().nodes()[0].detail, HasSubstr("SELECT"));
}

}  // namespace
}  // namespace redlock::testing
