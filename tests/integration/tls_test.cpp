// TLS against real redis-server processes serving certificates the fixture made: a good fleet
// takes and releases locks; each broken set-up gives its own per-node error.
#include <gmock/gmock.h>
#include <openssl/err.h>
#include <uv.h>

#include <optional>

#include "fixture.hpp"
#include "redlock/async_client.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class TlsTest : public fleet_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    REDLOCK_REQUIRE_OR_SKIP(tls_unavailable_reason());
  }
  void start_tls_fleet(std::size_t n, tls_cert cert = tls_cert::good,
                       std::string auth_clients = "no") {
    node_options o;
    o.tls = true;
    o.tls_server_cert = cert;
    o.tls_auth_clients = std::move(auth_clients);
    start_fleet(n, o);
  }
  client_options tls_options() {
    client_options o = options_for(*fleet);
    o.endpoints = fleet->tls_urls();
    o.tls.ca_file = fleet->certs().ca_cert;
    return o;
  }
  // The first node's failure, as acquire reports it.
  void expect_refused(client_options o, errc code, const std::string& words) {
    client locks = make_client(std::move(o));
    result<lease> held = locks.acquire("job");
    ASSERT_FALSE(held);
    bool seen = false;
    for (const node_report& r : held.tally().nodes()) {
      if (r.vote != vote::failed) continue;
      seen = true;
      EXPECT_EQ(r.error, code) << r.detail;
      EXPECT_THAT(r.detail, HasSubstr(words));
    }
    EXPECT_TRUE(seen) << held.message();
  }
};

TEST_F(TlsTest, GoodCaTakesExtendsAndReleases) {
  start_tls_fleet(3);
  client locks = make_client(tls_options());
  ASSERT_TRUE(locks.wait_ready(milliseconds(10000)));
  result<lease> held = locks.acquire("job");
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:job", held->token()); }));
  EXPECT_TRUE(held->extend(milliseconds(5000)));
  EXPECT_TRUE(held->release());
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "job"); }));
  auto health = locks.health();
  ASSERT_TRUE(health);
  EXPECT_THAT((*health)[0].endpoint, ::testing::StartsWith("rediss://"));
}

TEST_F(TlsTest, WrongCaIsMisconfiguredAndSaysWhy) {
  start_tls_fleet(3);
  client_options o = tls_options();
  o.tls.ca_file = fleet->certs().other_ca_cert;
  expect_refused(o, errc::config_refused, "certificate verify failed");
  client locks = make_client(o);
  EXPECT_EQ(locks.acquire("job").error(), errc::misconfigured);
}

TEST(TlsOptions, AMissingFileIsNamedInTheSystemsWords) {
  client_options o;
  o.endpoints = {"rediss://127.0.0.1:6380"};
  o.tls.ca_file = "/nonexistent/ca.pem";
  auto made = client::create(o);
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error(), errc::invalid_option);
  // OpenSSL 3 gives a system error no reason string: it was "error 2147483650".
  EXPECT_EQ(made.message(),
            "invalid option tls.ca_file: cannot use '/nonexistent/ca.pem': No such file or "
            "directory");
  o.tls.ca_file.clear();
  o.tls.cert_file = "/nonexistent/client.pem";
  o.tls.key_file = "/nonexistent/client.key";
  EXPECT_THAT(client::create(o).message(), ::testing::HasSubstr("No such file or directory"));
}

TEST_F(TlsTest, WrongHostNameIsRefused) {
  start_tls_fleet(3, tls_cert::wrong_host);
  expect_refused(tls_options(), errc::config_refused, "mismatch");
}

TEST_F(TlsTest, ExpiredCertificateIsRefused) {
  start_tls_fleet(3, tls_cert::expired);
  expect_refused(tls_options(), errc::config_refused, "certificate has expired");
}

// TLS 1.3: the client's handshake completes before the server checks for a client
// certificate, so the refusal comes as an alert on the first read.
TEST_F(TlsTest, MissingClientCertificateIsRefusedAndAGoodOneWorks) {
  start_tls_fleet(3, tls_cert::good, "yes");
  client_options o = tls_options();
  {
    client locks = make_client(o);
    result<lease> held = locks.acquire("job");
    ASSERT_FALSE(held);
    EXPECT_THAT(held.message(), HasSubstr("certificate required"));
  }
  o.tls.cert_file = fleet->certs().client_cert;
  o.tls.key_file = fleet->certs().client_key;
  client locks = make_client(o);
  result<lease> held = locks.acquire("job");
  EXPECT_TRUE(held) << held.message();
}

TEST_F(TlsTest, VerificationCanBeTurnedOffByName) {
  start_tls_fleet(3, tls_cert::expired);
  client_options o = tls_options();
  o.tls.ca_file = fleet->certs().other_ca_cert;
  o.tls.insecure_skip_verify = true;
  client locks = make_client(o);
  EXPECT_TRUE(locks.acquire("job"));
}

TEST_F(TlsTest, PlainClientOnTheTlsPortFailsInItsHandshake) {
  start_tls_fleet(1);
  client_options o = options_for(*fleet);
  o.endpoints = {"redis://127.0.0.1:" + std::to_string(fleet->tls_port(0))};
  o.connect_timeout = milliseconds(500);
  client locks = make_client(o);
  result<void> ready = locks.wait_ready(milliseconds(2000));
  EXPECT_FALSE(ready);
}

// Other code on the loop thread may leave errors on OpenSSL's per-thread error queue. The
// sessions do not clear it before each record (too costly), and must not mistake such an
// error for theirs: the connection's handshake, session tickets, acquires and releases all
// run with a stale error on the queue.
TEST_F(TlsTest, StaleErrorsOnTheLoopThreadsOpenSslQueueFailNothing) {
  start_tls_fleet(3);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto run_once_with_a_stale_error = [&] {
    ERR_raise(ERR_LIB_USER, 1);
    uv_run(&loop, UV_RUN_ONCE);
  };
  {
    auto locks = async_client::create(&loop, tls_options());
    ASSERT_TRUE(locks) << locks.message();
    std::optional<result<void>> ready;
    ASSERT_TRUE(locks->wait_ready(milliseconds(10000), [&](result<void> r) { ready.emplace(r); }));
    while (!ready)
      run_once_with_a_stale_error();
    ASSERT_TRUE(*ready) << ready->message();
    for (int i = 0; i < 20; ++i) {
      std::optional<result<lease>> held;
      ASSERT_TRUE(locks->acquire("job", {}, [&](result<lease> r) { held.emplace(std::move(r)); }));
      while (!held)
        run_once_with_a_stale_error();
      ASSERT_TRUE(*held) << held->message();
      std::optional<result<void>> released;
      ASSERT_TRUE(locks->release(std::move(**held),
                                 [&](result<void> r) { released.emplace(std::move(r)); }));
      while (!released)
        run_once_with_a_stale_error();
      ASSERT_TRUE(*released) << released->message();
    }
    auto health = locks->health();
    ASSERT_TRUE(health);
    for (const node_health& n : *health)
      EXPECT_EQ(n.reconnects, 0u) << n.endpoint << ": " << n.last_error;
  }
  ERR_clear_error();
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace redlock::testing
