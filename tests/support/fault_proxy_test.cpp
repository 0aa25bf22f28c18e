// Self-test of the fault proxy: each mode is checked against a real redis-server behind it,
// through plain sockets (which report exactly how a connection ended) and hiredis's blocking
// API (which shows what a synchronous Redis client sees).
#include "fault_proxy.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loopback_client.hpp"
#include "redis_fleet.hpp"
#include "test_helpers.hpp"

namespace {

namespace rt = redlock::testing;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using rt::encode_command;
using rt::eventually;
using rt::loopback_client;
using rt::open_fd_count;
using rt::since;
using rt::thread_count;

// hiredis writes with write(2): a write to a connection the proxy has reset can raise SIGPIPE.
// Block it on the test thread while a test runs (sends then fail with EPIPE), then discard any
// that became pending and restore the mask, so the rest of the binary sees no difference.
class sigpipe_blocker {
 public:
  sigpipe_blocker() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~sigpipe_blocker() {
    sigset_t pending;
    const timespec zero{};
    while (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1 &&
           sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_blocker(const sigpipe_blocker&) = delete;
  sigpipe_blocker& operator=(const sigpipe_blocker&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
};

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using context = std::unique_ptr<redisContext, context_deleter>;

timeval to_timeval(milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// A hiredis blocking connection with `timeout` for connecting and for each command.
context hiredis_connect(std::uint16_t port, milliseconds timeout = 2000ms) {
  context c(redisConnectWithTimeout("127.0.0.1", port, to_timeval(timeout)));
  if (c && c->err == 0) redisSetTimeout(c.get(), to_timeval(timeout));
  return c;
}

// The reply rendered like redis_fleet::command, or nullopt if the connection failed (c->err and
// c->errstr say how).
std::optional<std::string> hiredis_command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lengths.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lengths.data()));
  if (r == nullptr) return std::nullopt;
  std::string out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out = std::to_string(r->integer);
      break;
    case REDIS_REPLY_NIL:
      out = "(nil)";
      break;
    default:
      out.assign(r->str != nullptr ? r->str : "", r->len);
  }
  freeReplyObject(r);
  return out;
}

const std::string ping = encode_command({"PING"});  // 14 bytes
const std::string pong = "+PONG\r\n";

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REDLOCK_REQUIRE_OR_SKIP(rt::redis_unavailable_reason());
    fleet = std::make_unique<rt::redis_fleet>(1);
    proxy = std::make_unique<rt::fault_proxy>(fleet->port(0));
  }

  std::string server_get(const std::string& key) { return fleet->command(0, {"GET", key}); }

  sigpipe_blocker no_sigpipe;  // first: outlives the connections below
  std::unique_ptr<rt::redis_fleet> fleet;
  std::unique_ptr<rt::fault_proxy> proxy;  // after fleet: destroyed before it
};

TEST_F(FaultProxyTest, PassForwardsCommandsAndCountsConnections) {
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::pass);
  EXPECT_NE(proxy->port(), 0);
  EXPECT_NE(proxy->port(), fleet->port(0));
  EXPECT_EQ(proxy->url(), "redis://127.0.0.1:" + std::to_string(proxy->port()));
  EXPECT_EQ(proxy->connections_accepted(), 0u);

  context c = hiredis_connect(proxy->port());
  ASSERT_TRUE(c && c->err == 0) << (c ? c->errstr : "no context");
  EXPECT_EQ(hiredis_command(c.get(), {"PING"}), "PONG");
  EXPECT_EQ(hiredis_command(c.get(), {"SET", "k", "v"}), "OK");
  EXPECT_EQ(hiredis_command(c.get(), {"GET", "k"}), "v");
  EXPECT_EQ(server_get("k"), "v");  // it really went to the server
  // A reply bigger than one read buffer (64 KiB) arrives whole.
  const std::string big(200 * 1024, 'x');
  EXPECT_EQ(hiredis_command(c.get(), {"SET", "big", big}), "OK");
  EXPECT_EQ(hiredis_command(c.get(), {"GET", "big"}), big);

  context c2 = hiredis_connect(proxy->port());
  EXPECT_EQ(hiredis_command(c2.get(), {"PING"}), "PONG");
  EXPECT_EQ(proxy->connections_accepted(), 2u);
  EXPECT_EQ(proxy->open_connections(), 2u);
  c2.reset();
  EXPECT_TRUE(eventually([&] { return proxy->open_connections() == 1; }));
  EXPECT_EQ(proxy->connections_accepted(), 2u);
}

TEST_F(FaultProxyTest, DelayAddsLatencyEachWayAndKeepsOrder) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  ASSERT_EQ(raw.roundtrip(ping, pong.size()), pong);
  EXPECT_THROW(proxy->delay(-1ms), std::invalid_argument);

  proxy->delay(50ms);
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::delay);
  auto t0 = steady::now();
  EXPECT_EQ(raw.roundtrip(ping, pong.size()), pong);
  EXPECT_GE(since(t0), 100ms);  // 50 ms each way; upper bounds are not asserted

  // A connection made while delaying: hiredis sees the same latency.
  context c = hiredis_connect(proxy->port());
  ASSERT_TRUE(c && c->err == 0);
  t0 = steady::now();
  EXPECT_EQ(hiredis_command(c.get(), {"PING"}), "PONG");
  EXPECT_GE(since(t0), 100ms);

  // Separate chunks (sent apart, answered apart) keep their order in both directions; each
  // ECHO names its request, so a reordering in either direction shows in the replies.
  const auto echo = [](int i) { return std::string(i < 10 ? "m0" : "m") + std::to_string(i); };
  std::string expected;
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(raw.send(encode_command({"ECHO", echo(i)})));
    expected += "$3\r\n" + echo(i) + "\r\n";
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(raw.read(expected.size(), 3000ms), expected);

  // Back to pass while chunks are still queued: the newer bytes do not overtake them.
  expected.clear();
  for (int i = 11; i <= 20; ++i) {
    if (i == 16) proxy->pass();
    ASSERT_TRUE(raw.send(encode_command({"ECHO", echo(i)})));
    expected += "$3\r\n" + echo(i) + "\r\n";
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(raw.read(expected.size(), 3000ms), expected);
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::pass);
}

TEST_F(FaultProxyTest, BlackholeSwallowsEverythingUntilPass) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  ASSERT_EQ(raw.roundtrip(ping, pong.size()), pong);

  proxy->blackhole();
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::blackhole);
  // Connecting still works; the command times out.
  context c = hiredis_connect(proxy->port(), 300ms);
  ASSERT_TRUE(c && c->err == 0) << (c ? c->errstr : "no context");
  const auto t0 = steady::now();
  EXPECT_EQ(hiredis_command(c.get(), {"PING"}), std::nullopt);
  EXPECT_EQ(c->err, REDIS_ERR_IO) << c->errstr;  // EAGAIN from SO_RCVTIMEO
  EXPECT_GE(since(t0), 250ms);

  // The server sees nothing, and the connection stays open.
  EXPECT_EQ(raw.roundtrip(encode_command({"SET", "swallowed", "1"}), 1, 300ms), "");
  EXPECT_EQ(raw.end(), loopback_client::open);
  EXPECT_EQ(server_get("swallowed"), "(nil)");

  // After pass the same connection carries new traffic; what was swallowed stays lost.
  proxy->pass();
  EXPECT_EQ(raw.roundtrip(ping, pong.size()), pong);
  EXPECT_EQ(server_get("swallowed"), "(nil)");
  context c2 = hiredis_connect(proxy->port());
  EXPECT_EQ(hiredis_command(c2.get(), {"PING"}), "PONG");
}

TEST_F(FaultProxyTest, ResetRstsExistingAndNewConnections) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  ASSERT_EQ(raw.roundtrip(ping, pong.size()), pong);
  context c = hiredis_connect(proxy->port());
  ASSERT_EQ(hiredis_command(c.get(), {"PING"}), "PONG");
  ASSERT_EQ(proxy->open_connections(), 2u);

  proxy->reset();
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::reset);
  EXPECT_EQ(proxy->open_connections(), 0u);  // already closed when reset() returns
  EXPECT_EQ(raw.wait_end(), ECONNRESET);
  EXPECT_EQ(hiredis_command(c.get(), {"PING"}), std::nullopt);
  EXPECT_TRUE(c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF) << c->err << " " << c->errstr;

  // The kernel completes the handshake, then the proxy accepts and resets. (Nothing is sent
  // first: a send that meets the RST would consume the error, and recv would then see EOF.)
  loopback_client fresh;
  ASSERT_EQ(fresh.connect(proxy->port()), 0);
  EXPECT_EQ(fresh.wait_end(), ECONNRESET);
  EXPECT_EQ(proxy->connections_accepted(), 3u);
  context c2 = hiredis_connect(proxy->port());
  EXPECT_FALSE(c2 && c2->err == 0 && hiredis_command(c2.get(), {"PING"}).has_value());

  proxy->pass();
  context c3 = hiredis_connect(proxy->port());
  EXPECT_EQ(hiredis_command(c3.get(), {"PING"}), "PONG");
}

TEST_F(FaultProxyTest, RefuseClosesThePortAndOtherModesReopenIt) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  ASSERT_EQ(raw.roundtrip(ping, pong.size()), pong);
  const std::uint16_t port = proxy->port();

  for (int round = 0; round < 3; ++round) {
    proxy->refuse();
    EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::refuse);
    EXPECT_EQ(proxy->open_connections(), 0u);
    if (round == 0) {
      EXPECT_EQ(raw.wait_end(), ECONNRESET);  // the open one was reset
    }
    loopback_client refused;
    EXPECT_EQ(refused.connect(port), ECONNREFUSED);
    context c = hiredis_connect(port);
    EXPECT_TRUE(c && c->err != 0);

    // Any other mode listens again, on the same port.
    if (round == 1) {
      proxy->delay(1ms);
    } else {
      proxy->pass();
    }
    EXPECT_EQ(proxy->port(), port);
    context ok = hiredis_connect(port);
    ASSERT_TRUE(ok && ok->err == 0) << (ok ? ok->errstr : "no context");
    EXPECT_EQ(hiredis_command(ok.get(), {"PING"}), "PONG");
  }
}

TEST_F(FaultProxyTest, CutAfterResetsOnceTheLimitIsPassed) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  // Bytes sent before cut_after() do not count.
  ASSERT_EQ(raw.roundtrip(encode_command({"SET", "before", std::string(200, 'b')}), 5), "+OK\r\n");

  proxy->cut_after(64);
  EXPECT_EQ(proxy->current(), rt::fault_proxy::mode::cut_after);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(raw.roundtrip(ping, pong.size()), pong);  // 42 of 64
  }
  // Setting the mode again restarts every count: 56 more bytes pass.
  proxy->cut_after(64);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(raw.roundtrip(ping, pong.size()), pong);
  }
  raw.send(encode_command({"SET", "cut", std::string(100, 'c')}));
  EXPECT_EQ(raw.wait_end(), ECONNRESET);
  EXPECT_EQ(server_get("cut"), "(nil)");  // only a partial command reached the server
  EXPECT_TRUE(eventually([&] { return proxy->open_connections() == 0; }));

  // Each connection has its own count; exactly the limit still passes.
  proxy->cut_after(ping.size());
  loopback_client exact;
  ASSERT_EQ(exact.connect(proxy->port()), 0);
  EXPECT_EQ(exact.roundtrip(ping, pong.size()), pong);
  exact.send("*");
  EXPECT_EQ(exact.wait_end(), ECONNRESET);
  loopback_client another;
  ASSERT_EQ(another.connect(proxy->port()), 0);
  EXPECT_EQ(another.roundtrip(ping, pong.size()), pong);
}

TEST_F(FaultProxyTest, UpstreamDeathClosesClientsAndRestartRecovers) {
  loopback_client raw;
  ASSERT_EQ(raw.connect(proxy->port()), 0);
  ASSERT_EQ(raw.roundtrip(ping, pong.size()), pong);
  proxy->delay(20ms);
  raw.send(ping);  // still queued in the proxy when the server dies
  fleet->kill(0);
  const int end = raw.wait_end();
  EXPECT_TRUE(end == 0 || end == ECONNRESET) << end;

  // Accepted, but the upstream refuses: the client is closed.
  loopback_client fresh;
  ASSERT_EQ(fresh.connect(proxy->port()), 0);
  const int fresh_end = fresh.wait_end();
  EXPECT_TRUE(fresh_end == 0 || fresh_end == ECONNRESET) << fresh_end;
  EXPECT_TRUE(eventually([&] { return proxy->open_connections() == 0; }));

  fleet->restart(0);  // same port
  proxy->pass();
  context c = hiredis_connect(proxy->port());
  EXPECT_EQ(hiredis_command(c.get(), {"PING"}), "PONG");
}

TEST_F(FaultProxyTest, DestructorLeavesNoThreadsOrFds) {
  proxy.reset();
  const std::size_t fds_before = open_fd_count();
  // Not the fixture's proxy thread, joined just now but maybe still listed (thread_count()).
  const std::size_t threads_before = rt::settled_thread_count();

  for (int round = 0; round < 3; ++round) {
    loopback_client delayed;
    loopback_client swallowed;
    context c;
    {
      rt::fault_proxy p(fleet->port(0));
      // The last round's proxy thread may still be listed for a moment.
      EXPECT_TRUE(eventually([&] { return thread_count() == threads_before + 1; }))
          << thread_count() << " threads";
      c = hiredis_connect(p.port());
      ASSERT_EQ(hiredis_command(c.get(), {"PING"}), "PONG");
      ASSERT_EQ(delayed.connect(p.port()), 0);
      ASSERT_EQ(delayed.roundtrip(ping, pong.size()), pong);
      ASSERT_EQ(swallowed.connect(p.port()), 0);
      p.delay(500ms);
      delayed.send(ping);  // queued in the proxy when it is destroyed
      if (round == 1) {
        p.blackhole();
        swallowed.send(ping);
      }
      if (round == 2) p.refuse();
    }
    // Everything the proxy held was closed.
    const int end = delayed.wait_end();
    EXPECT_TRUE(end == 0 || end == ECONNRESET) << end;
    EXPECT_EQ(hiredis_command(c.get(), {"PING"}), std::nullopt);
  }
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_TRUE(eventually([&] { return thread_count() == threads_before; }));
}

}  // namespace
