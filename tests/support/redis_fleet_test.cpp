// Self-test of the redis fleet: the integration tests trust it to start, fault and clean up
// real servers, so each of those promises is checked against the real processes here.
#include "redis_fleet.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "loopback_client.hpp"
#include "test_helpers.hpp"

namespace {

namespace rt = redlock::testing;
using std::chrono::milliseconds;

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// What binding a fresh socket to 127.0.0.1:port gives: 0, or the errno of the failed bind
// (EADDRINUSE while the fleet holds the port's reservation).
int loopback_bind_error(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return errno;
  }
  const sockaddr_in in = rt::loopback_address(port);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&in), sizeof in);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// Sets an environment variable for one scope and restores the previous value.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class RedisFleetTest : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(rt::redis_unavailable_reason()); }
};

TEST_F(RedisFleetTest, StartsNodesThatAnswerPing) {
  rt::redis_fleet fleet(3);
  ASSERT_EQ(fleet.size(), 3u);
  std::set<std::uint16_t> ports;
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    EXPECT_NE(fleet.port(i), 0);
    ports.insert(fleet.port(i));
    EXPECT_EQ(fleet.url(i), "redis://127.0.0.1:" + std::to_string(fleet.port(i)));
    EXPECT_TRUE(fleet.running(i));
    EXPECT_GT(fleet.pid(i), 0);
    EXPECT_EQ(fleet.command(i, {"PING"}), "PONG");
    EXPECT_TRUE(std::filesystem::is_regular_file(fleet.node_dir(i) + "/redis.conf"));
    EXPECT_TRUE(std::filesystem::is_regular_file(fleet.log_path(i)));
    EXPECT_NE(fleet.log_tail(i).find("Ready to accept connections"), std::string::npos);
  }
  EXPECT_EQ(ports.size(), 3u) << "ports must be distinct";
  EXPECT_EQ(fleet.urls(), (std::vector<std::string>{fleet.url(0), fleet.url(1), fleet.url(2)}));
  EXPECT_TRUE(std::filesystem::is_directory(fleet.dir()));
  // The configuration the fleet promises.
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "save"}), "save\n");
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "appendonly"}), "appendonly\nno");
  EXPECT_EQ(fleet.command(0, {"DEBUG", "SLEEP", "0"}), "OK");
  if (fleet.ipv6()) {
    EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "bind"}), "bind\n127.0.0.1 -::1");
    EXPECT_EQ(fleet.url6(0), "redis://[::1]:" + std::to_string(fleet.port(0)));
  }
}

TEST_F(RedisFleetTest, CommandsRoundTripAndRenderReplies) {
  rt::redis_fleet fleet(1);
  EXPECT_EQ(fleet.command(0, {"SET", "k", "v"}), "OK");
  EXPECT_EQ(fleet.command(0, {"GET", "k"}), "v");
  EXPECT_EQ(fleet.command(0, {"GET", "missing"}), "(nil)");
  EXPECT_EQ(fleet.call(0, {"GET", "missing"}).type, rt::reply::kind::nil);
  EXPECT_EQ(fleet.command(0, {"INCR", "n"}), "1");
  EXPECT_EQ(fleet.call(0, {"INCRBY", "n", "41"}).integer, 42);

  // Binary-safe arguments and bulk replies.
  const std::string binary("a\0b\r\nc\n$3\r\n", 12);
  EXPECT_EQ(fleet.command(0, {"SET", std::string("bin\0key", 7), binary}), "OK");
  EXPECT_EQ(fleet.command(0, {"GET", std::string("bin\0key", 7)}), binary);
  EXPECT_EQ(fleet.command(0, {"SET", "empty", ""}), "OK");
  const rt::reply empty = fleet.call(0, {"GET", "empty"});
  EXPECT_EQ(empty.type, rt::reply::kind::bulk);
  EXPECT_EQ(empty.str, "");

  // A value far larger than one recv() forces reassembly from partial reads.
  std::string big(3 * 1024 * 1024 + 7, 'x');
  for (std::size_t k = 0; k < big.size(); k += 4093) {
    big[k] = static_cast<char>('a' + k % 26);
  }
  EXPECT_EQ(fleet.command(0, {"SET", "big", big}), "OK");
  EXPECT_EQ(fleet.command(0, {"GET", "big"}), big);

  // Arrays, including an empty one and a nested one.
  EXPECT_EQ(fleet.command(0, {"RPUSH", "list", "a", "b", "c"}), "3");
  EXPECT_EQ(fleet.command(0, {"LRANGE", "list", "0", "-1"}), "a\nb\nc");
  const rt::reply none = fleet.call(0, {"LRANGE", "nolist", "0", "-1"});
  EXPECT_EQ(none.type, rt::reply::kind::array);
  EXPECT_TRUE(none.elements.empty());
  EXPECT_EQ(none.render(), "");
  const rt::reply nested = fleet.call(0, {"EVAL", "return {1, {'x', 'y'}, 'z'}", "0"});
  ASSERT_EQ(nested.type, rt::reply::kind::array);
  ASSERT_EQ(nested.elements.size(), 3u);
  EXPECT_EQ(nested.elements[1].elements.size(), 2u);
  EXPECT_EQ(nested.render(), "1\nx\ny\nz");

  // Error replies come back as text, not exceptions.
  const rt::reply err = fleet.call(0, {"NO-SUCH-COMMAND"});
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.str.rfind("ERR unknown command", 0), 0u) << err.str;
  EXPECT_EQ(fleet.command(0, {"INCR", "k"}), "ERR value is not an integer or out of range");

  EXPECT_THROW(fleet.call(0, {}), std::invalid_argument);
}

// One connection for many calls; a call that times out closes it, and the next reconnects.
TEST_F(RedisFleetTest, RespLinkKeepsOneConnectionAndReconnectsAfterAFailure) {
  rt::redis_fleet fleet(1);
  rt::resp_link link(fleet.port(0), std::chrono::milliseconds(300));
  EXPECT_EQ(link.call({"SET", "k", "v"}).render(), "OK");
  const std::string id = link.call({"CLIENT", "ID"}).render();
  EXPECT_EQ(link.call({"CLIENT", "ID"}).render(), id);  // the same connection
  EXPECT_EQ(link.call({"GET", "k"}).render(), "v");
  fleet.pause(0);
  EXPECT_THROW(link.call({"GET", "k"}), rt::timeout_error);
  fleet.resume(0);
  EXPECT_EQ(link.call({"GET", "k"}).render(), "v");
  EXPECT_NE(link.call({"CLIENT", "ID"}).render(), id);  // a new one
  fleet.kill(0);
  EXPECT_THROW(link.call({"PING"}), rt::transport_error);
}

TEST_F(RedisFleetTest, KeysAreSortedAndFilteredByPattern) {
  rt::redis_fleet fleet(1);
  for (const char* key : {"lock:b", "other", "lock:a", "lock:c"}) {
    ASSERT_EQ(fleet.command(0, {"SET", key, "1"}), "OK");
  }
  EXPECT_EQ(fleet.keys(0, "lock:*"), (std::vector<std::string>{"lock:a", "lock:b", "lock:c"}));
  EXPECT_EQ(fleet.keys(0).size(), 4u);
  EXPECT_TRUE(fleet.keys(0, "nothing*").empty());
}

TEST_F(RedisFleetTest, KilledNodeRefusesAndRestartsOnTheSamePort) {
  rt::redis_fleet fleet(3);
  const std::uint16_t port = fleet.port(1);
  const pid_t old_pid = fleet.pid(1);
  fleet.kill(1);
  EXPECT_FALSE(fleet.running(1));
  EXPECT_EQ(fleet.pid(1), -1);
  EXPECT_FALSE(process_exists(old_pid));
  EXPECT_THROW(fleet.command(1, {"PING"}), rt::transport_error);
  EXPECT_NO_THROW(fleet.kill(1)) << "killing a dead node is a no-op";
  EXPECT_THROW(fleet.pause(1), std::logic_error);
  EXPECT_THROW(fleet.resume(1), std::logic_error);
  // The other nodes are unaffected.
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  EXPECT_EQ(fleet.command(2, {"PING"}), "PONG");

  fleet.restart(1);
  EXPECT_TRUE(fleet.running(1));
  EXPECT_EQ(fleet.port(1), port);
  EXPECT_NE(fleet.pid(1), old_pid);
  EXPECT_EQ(fleet.command(1, {"PING"}), "PONG");

  // restart() of a running node kills it first.
  const pid_t running_pid = fleet.pid(0);
  fleet.restart(0);
  EXPECT_FALSE(process_exists(running_pid));
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, PortOfADownNodeStaysReservedForItsRestart) {
  rt::redis_fleet fleet(1);
  fleet.kill(0);
  // Nobody else can bind the port while the node is down (bind(0) never hands it out either),
  // so restart() cannot lose it to a parallel test.
  EXPECT_EQ(loopback_bind_error(fleet.port(0)), EADDRINUSE);
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, LoglevelThatHidesReadinessIsRefused) {
  rt::node_options options;
  options.extra_config = {"loglevel warning"};
  EXPECT_THROW(rt::redis_fleet(1, options), std::invalid_argument);
  options.extra_config = {"loglevel verbose"};
  rt::redis_fleet fleet(1, options);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, NodeThatExitsOnItsOwnIsSeenAsDown) {
  rt::redis_fleet fleet(1);
  // SHUTDOWN NOSAVE closes the connection without a reply (or replies with an error).
  try {
    fleet.command(0, {"SHUTDOWN", "NOSAVE"});
  } catch (const rt::transport_error&) {
  }
  EXPECT_TRUE(rt::eventually([&] { return !fleet.running(0); }, milliseconds(2000)));
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, PersistenceKeepsAcknowledgedWritesAcrossKill9) {
  rt::node_options options;
  options.persistence = true;
  rt::redis_fleet fleet(1, options);
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "appendfsync"}), "appendfsync\nalways");
  ASSERT_EQ(fleet.command(0, {"SET", "survivor", "v1", "PX", "600000"}), "OK");
  fleet.kill(0);
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"GET", "survivor"}), "v1");
  const rt::reply ttl = fleet.call(0, {"PTTL", "survivor"});
  EXPECT_GT(ttl.integer, 500000) << "the expiry survives too";
}

TEST_F(RedisFleetTest, WithoutPersistenceKeysAreLostOnRestart) {
  rt::redis_fleet fleet(1);
  ASSERT_EQ(fleet.command(0, {"SET", "ghost", "v"}), "OK");
  fleet.kill(0);
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"GET", "ghost"}), "(nil)");
  EXPECT_EQ(fleet.command(0, {"DBSIZE"}), "0");
}

TEST_F(RedisFleetTest, PausedNodeTimesOutAndResumedNodeAnswers) {
  rt::redis_fleet fleet(2);
  fleet.set_command_timeout(milliseconds(200));
  fleet.pause(0);
  fleet.pause(0);  // no-op, must not hang
  EXPECT_TRUE(fleet.paused(0));
  EXPECT_TRUE(fleet.running(0));

  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(fleet.command(0, {"PING"}), rt::timeout_error);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(fleet.command(1, {"PING"}), "PONG");

  fleet.resume(0);
  EXPECT_FALSE(fleet.paused(0));
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  fleet.resume(0);  // resuming a running node is harmless
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, DestructorKillsEveryProcessAndRemovesTheDir) {
  std::vector<pid_t> pids;
  std::string dir;
  const std::size_t fds_before = rt::open_fd_count();
  {
    rt::node_options options;
    options.persistence = true;
    options.unix_socket = true;
    rt::redis_fleet fleet(3, options);
    for (std::size_t i = 0; i < fleet.size(); ++i) {
      pids.push_back(fleet.pid(i));
    }
    dir = fleet.dir();
    fleet.pause(1);  // a stopped process must die too
    fleet.kill(2);   // and an already reaped one must not confuse the destructor
    fleet.restart(2);
    pids.push_back(fleet.pid(2));
  }
  for (const pid_t pid : pids) {
    EXPECT_FALSE(process_exists(pid)) << "pid " << pid;
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_EQ(rt::open_fd_count(), fds_before) << "port reservations and logs must be closed";
}

TEST_F(RedisFleetTest, FailedStartThrowsWithLogAndLeavesNothingBehind) {
  const std::string parent = std::filesystem::temp_directory_path().string() + "/fleet-tmp-XXXXXX";
  std::string tmp = parent;
  ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
  {
    scoped_env env("TMPDIR", tmp.c_str());
    rt::node_options options;
    options.extra_config = {"no-such-directive yes"};
    options.start_timeout = milliseconds(3000);
    try {
      rt::redis_fleet fleet(2, options);
      ADD_FAILURE() << "a bad directive must fail the start";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("exited with status"), std::string::npos) << what;
      EXPECT_NE(what.find("Bad directive"), std::string::npos) << what;
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << "the fleet's temp dir must be gone";
  std::filesystem::remove_all(tmp);
}

TEST_F(RedisFleetTest, AclUserAuthenticatesWithTheRightPasswordOnly) {
  rt::node_options options;
  options.acl_users = {"user app on >s3cret ~* +@all", "reader on >r ~* -@all +get +ping"};
  rt::redis_fleet fleet(2, options);

  fleet.set_auth("app", "s3cret");
  EXPECT_EQ(fleet.command(0, {"ACL", "WHOAMI"}), "app");
  EXPECT_EQ(fleet.command(0, {"SET", "k", "v"}), "OK");

  fleet.set_auth("reader", "r");
  EXPECT_EQ(fleet.command(0, {"GET", "k"}), "v");
  EXPECT_EQ(fleet.command(0, {"SET", "k", "w"}).rfind("NOPERM", 0), 0u);

  fleet.set_auth("app", "wrong");
  const rt::reply denied = fleet.call(0, {"PING"});
  EXPECT_TRUE(denied.is_error());
  EXPECT_EQ(denied.str.rfind("WRONGPASS", 0), 0u) << denied.str;

  // The default user stays open unless configured otherwise.
  fleet.set_auth("", "");
  EXPECT_EQ(fleet.command(0, {"ACL", "WHOAMI"}), "default");

  // Users come from redis.conf, so they are back after a restart.
  fleet.kill(1);
  fleet.restart(1);
  fleet.set_auth("app", "s3cret");
  EXPECT_EQ(fleet.command(1, {"ACL", "WHOAMI"}), "app");
}

TEST_F(RedisFleetTest, DisabledDefaultUserStillStartsAndRestarts) {
  rt::node_options options;
  options.acl_users = {"user default off", "user app on >pw ~* +@all"};
  rt::redis_fleet fleet(1, options);
  EXPECT_EQ(fleet.command(0, {"PING"}).rfind("NOAUTH", 0), 0u);
  fleet.set_auth("app", "pw");
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, RequirepassProtectsTheDefaultUser) {
  rt::node_options options;
  options.requirepass = "p a\"ss\\word";  // quoting in redis.conf must survive this
  rt::redis_fleet fleet(1, options);
  EXPECT_EQ(fleet.command(0, {"PING"}).rfind("NOAUTH", 0), 0u);
  fleet.set_auth("", options.requirepass);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  fleet.set_auth("default", options.requirepass);
  EXPECT_EQ(fleet.command(0, {"ACL", "WHOAMI"}), "default");
  fleet.set_auth("", "nope");
  EXPECT_EQ(fleet.command(0, {"PING"}).rfind("WRONGPASS", 0), 0u);
  fleet.set_auth("", "");
  fleet.restart(0);
  fleet.set_auth("", options.requirepass);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
}

TEST_F(RedisFleetTest, UnixSocketServesTheSameData) {
  rt::node_options options;
  options.unix_socket = true;
  rt::redis_fleet fleet(2, options);
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    EXPECT_TRUE(is_socket(fleet.unix_path(i))) << fleet.unix_path(i);
    EXPECT_EQ(fleet.unix_url(i), "unix://" + fleet.unix_path(i));
  }
  EXPECT_NE(fleet.unix_path(0), fleet.unix_path(1));
  EXPECT_EQ(fleet.command_unix(0, {"SET", "via", "unix"}), "OK");
  EXPECT_EQ(fleet.command(0, {"GET", "via"}), "unix");
  fleet.kill(0);
  EXPECT_THROW(fleet.command_unix(0, {"PING"}), rt::transport_error);
  fleet.restart(0);
  EXPECT_EQ(fleet.command_unix(0, {"PING"}), "PONG");

  rt::redis_fleet tcp_only(1);
  EXPECT_THROW(tcp_only.unix_path(0), std::logic_error);
}

TEST_F(RedisFleetTest, ExtraConfigIsApplied) {
  rt::node_options options;
  options.extra_config = {"maxmemory 10mb"};
  rt::redis_fleet fleet(1, options);
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "maxmemory"}), "maxmemory\n10485760");
}

TEST_F(RedisFleetTest, RestartKeepsWhatTheServerRewroteInItsConfig) {
  rt::redis_fleet fleet(1);
  ASSERT_EQ(fleet.command(0, {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}), "OK");
  ASSERT_EQ(fleet.command(0, {"CONFIG", "REWRITE"}), "OK");
  fleet.restart(0);
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "maxmemory-policy"}),
            "maxmemory-policy\nallkeys-lru");
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "save"}), "save\n") << "still no RDB";
}

TEST_F(RedisFleetTest, TheFleetLivesInTheDirItIsGivenAndRemovesIt) {
  const std::filesystem::path parent = std::filesystem::temp_directory_path() /
                                       ("redlock-fleet-dir-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(parent);
  rt::node_options options;
  options.dir = (parent / "fleet").string();
  {
    rt::redis_fleet fleet(1, options);
    EXPECT_EQ(fleet.dir(), options.dir);
    EXPECT_EQ(fleet.node_dir(0), options.dir + "/node0");
    EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
    // A dir that exists already is someone else's.
    EXPECT_THROW(rt::redis_fleet second(1, options), std::runtime_error);
  }
  EXPECT_FALSE(std::filesystem::exists(options.dir));
  std::filesystem::remove_all(parent);
}

TEST_F(RedisFleetTest, SentinelNodesMonitorAMasterAndRefusePersistence) {
  rt::redis_fleet master(1);
  rt::node_options options;
  options.sentinel = true;
  options.extra_config = {"sentinel monitor m 127.0.0.1 " + std::to_string(master.port(0)) + " 1"};
  rt::redis_fleet sentinels(1, options);
  EXPECT_EQ(sentinels.command(0, {"PING"}), "PONG");
  EXPECT_EQ(sentinels.command(0, {"SENTINEL", "get-master-addr-by-name", "m"}),
            "127.0.0.1\n" + std::to_string(master.port(0)));
  EXPECT_NE(sentinels.log_tail(0).find("Sentinel ID is"), std::string::npos);
  // A restarted sentinel keeps its ID: its config is the one it rewrote.
  const std::string id = sentinels.command(0, {"SENTINEL", "myid"});
  sentinels.restart(0);
  EXPECT_EQ(sentinels.command(0, {"SENTINEL", "myid"}), id);

  options.persistence = true;
  EXPECT_THROW(rt::redis_fleet with_persistence(1, options), std::invalid_argument);
}

TEST_F(RedisFleetTest, ConcurrentFleetsUseDistinctPortsAndDirs) {
  rt::redis_fleet a(3);
  rt::redis_fleet b(3);
  std::set<std::uint16_t> ports;
  for (std::size_t i = 0; i < 3; ++i) {
    ports.insert(a.port(i));
    ports.insert(b.port(i));
  }
  EXPECT_EQ(ports.size(), 6u);
  EXPECT_NE(a.dir(), b.dir());
}

TEST_F(RedisFleetTest, BadIndexIsRejected) {
  rt::redis_fleet fleet(1);
  EXPECT_THROW(fleet.port(1), std::out_of_range);
  EXPECT_THROW(fleet.command(5, {"PING"}), std::out_of_range);
  EXPECT_THROW(fleet.kill(1), std::out_of_range);
}

TEST(FindRedisServerTest, HonoursTheEnvironment) {
  const std::string on_path = [] {
    scoped_env env("REDLOCK_REDIS_SERVER", nullptr);
    return rt::find_redis_server();
  }();
  if (on_path.empty()) {
    GTEST_SKIP() << "no redis-server on PATH";
  }
  EXPECT_EQ(on_path.substr(on_path.size() - 13), "/redis-server");
  {
    scoped_env env("REDLOCK_REDIS_SERVER", "/nonexistent/redis-server");
    EXPECT_EQ(rt::find_redis_server(), "") << "an explicit bad choice must not fall back to PATH";
  }
  {
    scoped_env env("REDLOCK_REDIS_SERVER", on_path.c_str());
    EXPECT_EQ(rt::find_redis_server(), on_path);
  }
  {
    scoped_env env("REDLOCK_REQUIRE_REDIS", "1");
    EXPECT_TRUE(rt::redis_required());
  }
  {
    scoped_env env("REDLOCK_REQUIRE_REDIS", nullptr);
    EXPECT_FALSE(rt::redis_required());
  }
}

// TLS. The checks run real clients as child processes: redis-cli (Debian: redis-tools) for the
// Redis protocol over TLS, and `openssl s_client` for what a verifying client sees.

class RedisFleetTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { REDLOCK_REQUIRE_OR_SKIP(rt::tls_unavailable_reason()); }

  static rt::node_options tls_options(rt::tls_cert cert = rt::tls_cert::good,
                                      std::string auth_clients = "no") {
    rt::node_options o;
    o.tls = true;
    o.tls_server_cert = cert;
    o.tls_auth_clients = std::move(auth_clients);
    return o;
  }

  // `redis-cli --tls -h 127.0.0.1 -p <tls port> <extra...> PING`; nullopt without redis-cli.
  static std::optional<rt::program_result> tls_ping(const rt::redis_fleet& fleet, std::size_t i,
                                                    std::vector<std::string> extra) {
    if (rt::find_program("redis-cli").empty()) {
      return std::nullopt;
    }
    std::vector<std::string> argv{"redis-cli", "--tls", "-h",
                                  "127.0.0.1", "-p",    std::to_string(fleet.tls_port(i))};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("PING");
    return rt::run_program(argv);
  }

  // A TLS handshake by `openssl s_client` trusting `ca`, failing on any verification error.
  static rt::program_result s_client(std::uint16_t port, const std::string& ca,
                                     std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"openssl",
                                  "s_client",
                                  "-connect",
                                  "127.0.0.1:" + std::to_string(port),
                                  "-CAfile",
                                  ca,
                                  "-verify_return_error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return rt::run_program(argv);
  }
};

#define SKIP_WITHOUT_REDIS_CLI(result)                                                  \
  if (!(result)) {                                                                      \
    GTEST_SKIP() << "redis-cli not on PATH (Debian: apt-get install redis-tools); the " \
                    "remaining checks of this test need it";                            \
  }

bool tcp_connects(std::uint16_t port) {
  rt::loopback_client c;
  return c.connect(port) == 0;
}

struct remove_on_exit {
  std::string path;
  ~remove_on_exit() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST_F(RedisFleetTlsTest, MakeTestCertsMakesAVerifiableSetQuickly) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/certs-XXXXXX";
  std::string tmp = dir;
  ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
  const remove_on_exit guard{tmp};
  const auto start = std::chrono::steady_clock::now();
  const rt::cert_set c = rt::make_test_certs(tmp + "/sub");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, milliseconds(5000)) << "EC keys should make this a matter of milliseconds";
  EXPECT_EQ(c.dir, tmp + "/sub");
  for (const auto* path : {&c.ca_cert, &c.ca_key, &c.server_cert, &c.server_key, &c.wrong_host_cert,
                           &c.wrong_host_key, &c.expired_cert, &c.expired_key, &c.other_ca_cert,
                           &c.other_ca_key, &c.client_cert, &c.client_key}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(*path)) << *path;
    EXPECT_EQ(path->rfind(c.dir + "/", 0), 0u) << *path;
  }
  const auto verify = [&](const std::string& ca, const std::string& cert,
                          std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"openssl", "verify", "-CAfile", ca};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(cert);
    return rt::run_program(argv);
  };
  const std::vector<std::string> as_server{"-purpose", "sslserver"};
  EXPECT_TRUE(
      verify(c.ca_cert, c.server_cert, {"-purpose", "sslserver", "-verify_hostname", "localhost"})
          .ok());
  for (const char* ip : {"127.0.0.1", "::1"}) {
    const auto r = verify(c.ca_cert, c.server_cert, {"-purpose", "sslserver", "-verify_ip", ip});
    EXPECT_TRUE(r.ok()) << ip << ": " << r.output;
  }
  EXPECT_TRUE(verify(c.ca_cert, c.client_cert, {"-purpose", "sslclient"}).ok());
  // Each bad certificate is bad in its one way only.
  const auto wrong_ca = verify(c.other_ca_cert, c.server_cert);
  EXPECT_FALSE(wrong_ca.ok());
  EXPECT_NE(wrong_ca.output.find("unable to get local issuer certificate"), std::string::npos)
      << wrong_ca.output;
  EXPECT_TRUE(verify(c.ca_cert, c.wrong_host_cert, as_server).ok());
  const auto wrong_host = verify(c.ca_cert, c.wrong_host_cert, {"-verify_hostname", "localhost"});
  EXPECT_FALSE(wrong_host.ok());
  EXPECT_NE(wrong_host.output.find("hostname mismatch"), std::string::npos) << wrong_host.output;
  EXPECT_FALSE(verify(c.ca_cert, c.wrong_host_cert, {"-verify_ip", "127.0.0.1"}).ok());
  const auto expired = verify(c.ca_cert, c.expired_cert, {"-verify_ip", "127.0.0.1"});
  EXPECT_FALSE(expired.ok());
  EXPECT_NE(expired.output.find("certificate has expired"), std::string::npos) << expired.output;
  // Expired a day ago, after having been valid: notBefore < notAfter < now (ISO 8601 dates
  // compare as strings).
  const auto dates = rt::run_program(
      {"openssl", "x509", "-in", c.expired_cert, "-noout", "-dates", "-dateopt", "iso_8601"});
  ASSERT_TRUE(dates.ok()) << dates.output;
  const auto field = [&](const std::string& name) {
    const std::size_t at = dates.output.find(name + "=");
    if (at == std::string::npos) {
      return std::string();
    }
    const std::size_t begin = at + name.size() + 1;
    return dates.output.substr(begin, dates.output.find('\n', begin) - begin);
  };
  EXPECT_FALSE(field("notBefore").empty()) << dates.output;
  EXPECT_LT(field("notBefore"), field("notAfter")) << dates.output;
  EXPECT_FALSE(
      rt::run_program({"openssl", "x509", "-in", c.expired_cert, "-noout", "-checkend", "0"}).ok());
  EXPECT_TRUE(
      rt::run_program({"openssl", "x509", "-in", c.server_cert, "-noout", "-checkend", "86400"})
          .ok());
}

TEST_F(RedisFleetTlsTest, MakeTestCertsNamesTheFailingCommandAndItsOutput) {
  const std::string base = std::filesystem::temp_directory_path().string() + "/fake-ossl-XXXXXX";
  std::string tmp = base;
  ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
  const remove_on_exit guard{tmp};
  {
    std::ofstream fake(tmp + "/openssl");
    fake << "#!/bin/sh\necho \"no luck with $1\" >&2\nexit 3\n";
  }
  std::filesystem::permissions(tmp + "/openssl", std::filesystem::perms::owner_all);
  {
    scoped_env env("PATH", tmp.c_str());
    try {
      rt::make_test_certs(tmp + "/certs");
      ADD_FAILURE() << "a failing openssl must throw";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("`openssl req -x509 "), std::string::npos) << what;
      EXPECT_NE(what.find("exited with status 3"), std::string::npos) << what;
      EXPECT_NE(what.find("no luck with req"), std::string::npos) << what;
    }
  }
  {
    scoped_env env("PATH", (tmp + "/nowhere").c_str());
    try {
      rt::make_test_certs(tmp + "/certs");
      ADD_FAILURE() << "a missing openssl must throw";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("not on PATH"), std::string::npos) << e.what();
    }
  }
}

TEST_F(RedisFleetTlsTest, NodesServeTlsOnASecondPortAndPlaintextOnTheFirst) {
  rt::redis_fleet fleet(2, tls_options());
  std::set<std::uint16_t> ports;
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    ports.insert(fleet.port(i));
    ports.insert(fleet.tls_port(i));
    EXPECT_EQ(fleet.tls_url(i), "rediss://127.0.0.1:" + std::to_string(fleet.tls_port(i)));
    EXPECT_EQ(fleet.url(i), "redis://127.0.0.1:" + std::to_string(fleet.port(i)));
    // The fleet's own helpers still speak plaintext on the plain port.
    EXPECT_EQ(fleet.command(i, {"PING"}), "PONG");
    EXPECT_EQ(fleet.command(i, {"CONFIG", "GET", "tls-port"}),
              "tls-port\n" + std::to_string(fleet.tls_port(i)));
    EXPECT_EQ(fleet.command(i, {"CONFIG", "GET", "tls-auth-clients"}), "tls-auth-clients\nno");
  }
  EXPECT_EQ(ports.size(), 4u) << "plain and TLS ports must all differ";
  EXPECT_EQ(fleet.tls_urls(), (std::vector<std::string>{fleet.tls_url(0), fleet.tls_url(1)}));
  const rt::cert_set& certs = fleet.certs();
  EXPECT_EQ(certs.dir, fleet.dir() + "/certs");
  EXPECT_TRUE(std::filesystem::is_regular_file(certs.ca_cert));

  // A verifying TLS client accepts the server for 127.0.0.1 when it trusts the fleet's CA...
  const auto ok = s_client(fleet.tls_port(0), certs.ca_cert, {"-verify_ip", "127.0.0.1"});
  EXPECT_TRUE(ok.ok()) << ok.describe() << ":\n" << ok.output;
  EXPECT_NE(ok.output.find("Verify return code: 0 (ok)"), std::string::npos) << ok.output;
  // ... and refuses it when it trusts another CA.
  // (The server sends its CA along with its certificate: OpenSSL completes the chain from
  // tls-ca-cert-file. So the error is about a self-signed CA, not a missing issuer.)
  const auto wrong_ca = s_client(fleet.tls_port(0), certs.other_ca_cert);
  EXPECT_FALSE(wrong_ca.ok()) << wrong_ca.output;
  EXPECT_NE(wrong_ca.output.find("Verification error: "), std::string::npos) << wrong_ca.output;
  EXPECT_EQ(wrong_ca.output.find("Verify return code: 0 (ok)"), std::string::npos)
      << wrong_ca.output;

  const auto pong = tls_ping(fleet, 1, {"--cacert", certs.ca_cert});
  SKIP_WITHOUT_REDIS_CLI(pong);
  EXPECT_TRUE(pong->ok()) << pong->describe() << ":\n" << pong->output;
  EXPECT_EQ(pong->output, "PONG\n");
  const auto other = tls_ping(fleet, 1, {"--cacert", certs.other_ca_cert});
  EXPECT_FALSE(other->ok()) << other->output;
  EXPECT_EQ(other->output.find("PONG"), std::string::npos) << other->output;
  // The TLS port speaks only TLS.
  const auto plain = rt::run_program(
      {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(fleet.tls_port(0)), "PING"});
  EXPECT_EQ(plain.output.find("PONG"), std::string::npos) << plain.output;
}

TEST_F(RedisFleetTlsTest, RestartKeepsBothPortsAndTheCertificates) {
  rt::redis_fleet fleet(1, tls_options());
  const std::uint16_t port = fleet.port(0);
  const std::uint16_t tls_port = fleet.tls_port(0);
  const std::string ca = slurp(fleet.certs().ca_cert);
  const std::string cert = slurp(fleet.certs().server_cert);
  ASSERT_FALSE(ca.empty());
  fleet.kill(0);
  EXPECT_FALSE(tcp_connects(tls_port));
  fleet.restart(0);
  EXPECT_EQ(fleet.port(0), port);
  EXPECT_EQ(fleet.tls_port(0), tls_port);
  EXPECT_EQ(slurp(fleet.certs().ca_cert), ca);
  EXPECT_EQ(slurp(fleet.certs().server_cert), cert);
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  const auto ok = s_client(tls_port, fleet.certs().ca_cert, {"-verify_ip", "127.0.0.1"});
  EXPECT_TRUE(ok.ok()) << ok.output;
}

TEST_F(RedisFleetTlsTest, TlsPortOfADownNodeStaysReserved) {
  rt::redis_fleet fleet(1, tls_options());
  fleet.kill(0);
  EXPECT_EQ(loopback_bind_error(fleet.tls_port(0)), EADDRINUSE);
}

TEST_F(RedisFleetTlsTest, WrongHostCertificateIsServedAndFailsOnlyTheHostnameCheck) {
  rt::redis_fleet fleet(1, tls_options(rt::tls_cert::wrong_host));
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  EXPECT_TRUE(tcp_connects(fleet.tls_port(0)));
  const std::string& ca = fleet.certs().ca_cert;
  const auto chain_only = s_client(fleet.tls_port(0), ca);
  EXPECT_TRUE(chain_only.ok()) << "the chain is good:\n" << chain_only.output;
  for (const auto& check : std::vector<std::vector<std::string>>{
           {"-verify_ip", "127.0.0.1"}, {"-verify_hostname", "localhost"}}) {
    const auto r = s_client(fleet.tls_port(0), ca, check);
    EXPECT_FALSE(r.ok()) << check[0] << ":\n" << r.output;
    EXPECT_NE(r.output.find("mismatch"), std::string::npos) << r.output;  // IP/hostname mismatch
  }
}

TEST_F(RedisFleetTlsTest, ExpiredCertificateIsServedAndRefusedByVerifyingClients) {
  rt::redis_fleet fleet(1, tls_options(rt::tls_cert::expired));
  EXPECT_EQ(fleet.command(0, {"PING"}), "PONG");
  EXPECT_TRUE(tcp_connects(fleet.tls_port(0)));
  const auto r = s_client(fleet.tls_port(0), fleet.certs().ca_cert, {"-verify_ip", "127.0.0.1"});
  EXPECT_FALSE(r.ok()) << r.output;
  EXPECT_NE(r.output.find("certificate has expired"), std::string::npos) << r.output;

  const auto ping = tls_ping(fleet, 0, {"--cacert", fleet.certs().ca_cert});
  SKIP_WITHOUT_REDIS_CLI(ping);
  EXPECT_FALSE(ping->ok()) << ping->output;
  EXPECT_EQ(ping->output.find("PONG"), std::string::npos) << ping->output;
}

TEST_F(RedisFleetTlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  rt::redis_fleet fleet(1, tls_options(rt::tls_cert::good, "yes"));
  EXPECT_EQ(fleet.command(0, {"CONFIG", "GET", "tls-auth-clients"}), "tls-auth-clients\nyes");
  const rt::cert_set& certs = fleet.certs();
  const auto without = tls_ping(fleet, 0, {"--cacert", certs.ca_cert});
  SKIP_WITHOUT_REDIS_CLI(without);
  EXPECT_FALSE(without->ok()) << without->output;
  EXPECT_EQ(without->output.find("PONG"), std::string::npos) << without->output;
  // A certificate the server's CA did not sign is refused too.
  const auto stranger = tls_ping(
      fleet, 0,
      {"--cacert", certs.ca_cert, "--cert", certs.other_ca_cert, "--key", certs.other_ca_key});
  EXPECT_FALSE(stranger->ok()) << stranger->output;
  EXPECT_EQ(stranger->output.find("PONG"), std::string::npos) << stranger->output;
  const auto with =
      tls_ping(fleet, 0,
               {"--cacert", certs.ca_cert, "--cert", certs.client_cert, "--key", certs.client_key});
  EXPECT_TRUE(with->ok()) << with->describe() << ":\n" << with->output;
  EXPECT_EQ(with->output, "PONG\n");
}

TEST_F(RedisFleetTlsTest, TlsOptionsAreCheckedAndTlsAccessorsNeedTls) {
  rt::node_options bad = tls_options(rt::tls_cert::good, "maybe");
  EXPECT_THROW(rt::redis_fleet(1, bad), std::invalid_argument);
  rt::redis_fleet plain(1);
  EXPECT_THROW(plain.tls_port(0), std::logic_error);
  EXPECT_THROW(plain.tls_url(0), std::logic_error);
  EXPECT_THROW(plain.certs(), std::logic_error);
  EXPECT_FALSE(std::filesystem::exists(plain.dir() + "/certs"));
}

TEST_F(RedisFleetTlsTest, TlsFleetLeavesNothingBehind) {
  const std::size_t fds_before = rt::open_fd_count();
  std::vector<pid_t> pids;
  std::string dir;
  {
    rt::redis_fleet fleet(2, tls_options());
    dir = fleet.dir();
    fleet.kill(1);
    fleet.restart(1);
    for (std::size_t i = 0; i < fleet.size(); ++i) {
      pids.push_back(fleet.pid(i));
    }
  }
  for (const pid_t pid : pids) {
    EXPECT_FALSE(process_exists(pid)) << "pid " << pid;
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_EQ(rt::open_fd_count(), fds_before) << "both ports' reservations must be closed";
}

// The clock-shift shim (node_options::clock_shift, tests/support/clock_shift.c): a node whose
// wall clock jumps while it runs, as in the negative control "a forward clock jump on one node".

class RedisFleetClockShiftTest : public RedisFleetTest {
 protected:
  static rt::node_options shifted() {
    rt::node_options o;
    o.clock_shift = true;
    return o;
  }
};

// How far node i's wall clock (TIME) is ahead of ours: the range that one round trip allows.
struct clock_skew {
  milliseconds low;
  milliseconds high;
};

clock_skew server_clock_skew(const rt::redis_fleet& fleet, std::size_t i) {
  using std::chrono::system_clock;
  const auto before = system_clock::now();
  const rt::reply t = fleet.call(i, {"TIME"});
  const auto after = system_clock::now();
  if (t.type != rt::reply::kind::array || t.elements.size() != 2) {
    throw std::runtime_error("TIME replied " + t.render());
  }
  const long long usec = std::stoll(t.elements[1].str);
  if (usec < 0 || usec >= 1000000) {  // a shift that forgot to carry or borrow
    throw std::runtime_error("TIME replied " + t.elements[0].str + " s and " + t.elements[1].str +
                             " us");
  }
  const system_clock::time_point server(std::chrono::seconds(std::stoll(t.elements[0].str)) +
                                        std::chrono::microseconds(usec));
  return {std::chrono::floor<milliseconds>(server - after),
          std::chrono::ceil<milliseconds>(server - before)};
}

std::string describe(const clock_skew& s) {
  return "node clock ahead by " + std::to_string(s.low.count()) + ".." +
         std::to_string(s.high.count()) + " ms";
}

// Whether node i's wall clock is `offset` ahead of ours, give or take the round trip and 50 ms
// (a sub-second part lost or a second carried wrongly is off by 500 ms or more).
bool clock_ahead_by(const rt::redis_fleet& fleet, std::size_t i, milliseconds offset) {
  const clock_skew s = server_clock_skew(fleet, i);
  return s.low - milliseconds(50) <= offset && offset <= s.high + milliseconds(50);
}

TEST_F(RedisFleetClockShiftTest, TimeJumpsByTheOffsetForwardAndBack) {
  rt::redis_fleet fleet(2, shifted());
  // With the shim loaded but no offset file yet, the clock is the real one.
  EXPECT_TRUE(clock_ahead_by(fleet, 0, milliseconds(0))) << describe(server_clock_skew(fleet, 0));

  // Sub-second parts of .999 s make the microseconds carry into the seconds (forward) or borrow
  // from them (back) for all but 1 ms of each real second; TIME then shows whether they did.
  fleet.shift_clock(0, milliseconds(30999));
  EXPECT_TRUE(rt::eventually([&] { return clock_ahead_by(fleet, 0, milliseconds(30999)); },
                             milliseconds(2000)))
      << describe(server_clock_skew(fleet, 0));
  EXPECT_TRUE(clock_ahead_by(fleet, 1, milliseconds(0)))
      << "node 1 was not shifted: " << describe(server_clock_skew(fleet, 1));

  fleet.shift_clock(0, milliseconds(-1999));
  EXPECT_TRUE(rt::eventually([&] { return clock_ahead_by(fleet, 0, milliseconds(-1999)); },
                             milliseconds(2000)))
      << describe(server_clock_skew(fleet, 0));

  fleet.shift_clock(0, milliseconds(0));
  EXPECT_TRUE(
      rt::eventually([&] { return clock_ahead_by(fleet, 0, milliseconds(0)); }, milliseconds(2000)))
      << describe(server_clock_skew(fleet, 0));
}

TEST_F(RedisFleetClockShiftTest, ForwardJumpExpiresKeysOnThatNodeOnly) {
  rt::redis_fleet fleet(2, shifted());
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    ASSERT_EQ(fleet.command(i, {"SET", "k", "v", "PX", "20000"}), "OK");
    ASSERT_EQ(fleet.command(i, {"SET", "idle", "v", "PX", "20000"}), "OK");  // never read again
  }
  EXPECT_GT(fleet.call(0, {"PTTL", "k"}).integer, 15000) << "no shift yet";

  fleet.shift_clock(0, std::chrono::seconds(30));  // 10 s past both keys' expiry
  EXPECT_TRUE(rt::eventually(
      [&] {
        return fleet.call(0, {"GET", "k"}).type == rt::reply::kind::nil;
      },
      milliseconds(2000)));
  EXPECT_EQ(fleet.command(0, {"PTTL", "k"}), "-2");
  // The active expire cycle runs on the shifted clock too: "idle" goes without being touched.
  EXPECT_TRUE(
      rt::eventually([&] { return fleet.command(0, {"DBSIZE"}) == "0"; }, milliseconds(2000)))
      << fleet.command(0, {"DBSIZE"}) << " keys left";
  // So another owner can take the key there, and only there.
  EXPECT_EQ(fleet.command(0, {"SET", "k", "w", "NX", "PX", "20000"}), "OK");

  EXPECT_EQ(fleet.command(1, {"GET", "k"}), "v") << "node 1 runs the shim without a shift";
  EXPECT_GT(fleet.call(1, {"PTTL", "k"}).integer, 15000);
  EXPECT_EQ(fleet.command(1, {"DBSIZE"}), "2");
  EXPECT_EQ(fleet.command(1, {"SET", "k", "w", "NX", "PX", "20000"}), "(nil)");
}

TEST_F(RedisFleetClockShiftTest, ShiftWrittenWhileDownHoldsFromTheRestart) {
  rt::redis_fleet fleet(1, shifted());
  const std::string file = fleet.clock_shift_file(0);
  EXPECT_EQ(file, fleet.node_dir(0) + "/clock_shift_ms");
  EXPECT_FALSE(std::filesystem::exists(file)) << "no offset until shift_clock()";
  fleet.kill(0);
  fleet.shift_clock(0, std::chrono::seconds(30));
  EXPECT_EQ(slurp(file), "30000\n");
  EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
  fleet.restart(0);
  // The shim reads the file on the server's first clock read, so no waiting here.
  EXPECT_TRUE(clock_ahead_by(fleet, 0, milliseconds(30000)))
      << describe(server_clock_skew(fleet, 0));
  EXPECT_THROW(fleet.shift_clock(1, milliseconds(1)), std::out_of_range);

  rt::redis_fleet plain(1);
  EXPECT_THROW(plain.shift_clock(0, milliseconds(1)), std::logic_error);
  EXPECT_THROW(plain.clock_shift_file(0), std::logic_error);
}

TEST(RunProgramTest, ReportsStatusOutputAndTimeout) {
  const auto echo = rt::run_program({"sh", "-c", "echo out; echo err >&2; exit 4"});
  EXPECT_FALSE(echo.ok());
  EXPECT_EQ(echo.exit_code(), 4);
  EXPECT_EQ(echo.describe(), "exited with status 4");
  EXPECT_NE(echo.output.find("out\n"), std::string::npos);
  EXPECT_NE(echo.output.find("err\n"), std::string::npos);
  EXPECT_TRUE(rt::run_program({"true"}).ok());
  const auto start = std::chrono::steady_clock::now();
  const auto slow = rt::run_program({"sleep", "30"}, milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  EXPECT_TRUE(slow.timed_out);
  EXPECT_FALSE(slow.ok());
  EXPECT_THROW(rt::run_program({"no-such-program-redlock"}), std::runtime_error);
  EXPECT_THROW(rt::run_program({}), std::invalid_argument);
}

}  // namespace
