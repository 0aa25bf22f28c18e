// Self-test of the redis fleet: the integration tests trust it to start, fault and clean up
// real servers, so each of those promises is checked against the real processes here.
#include "redis_fleet.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  void SetUp() override { REDLOCK_REQUIRE_REDIS_OR_SKIP(); }
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
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons(fleet.port(0));
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&in), sizeof in);
  const int err = errno;
  ::close(fd);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, EADDRINUSE);
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
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
  while (fleet.running(0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_FALSE(fleet.running(0));
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

std::size_t open_fd_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

TEST_F(RedisFleetTest, DestructorKillsEveryProcessAndRemovesTheDir) {
  std::vector<pid_t> pids;
  std::string dir;
  const std::size_t fds_before = open_fd_count();
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
  EXPECT_EQ(open_fd_count(), fds_before) << "port reservations and logs must be closed";
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

}  // namespace
