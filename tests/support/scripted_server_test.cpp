// Self-test of the scripted fake server, through a plain blocking client socket: the handshake
// it serves, the bytes it sends, what read_command and peer_closed report, and a destructor that
// returns while a play is still blocked.
#include "scripted_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace rt = redlock::testing;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using command = std::vector<std::string>;

milliseconds since(steady::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(steady::now() - t0);
}

bool wait_until(const std::function<bool()>& done, milliseconds timeout = 5000ms) {
  const auto deadline = steady::now() + timeout;
  while (!done()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

std::string resp(const command& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// A blocking loopback client: writes everything, reads with a deadline, tells EOF apart.
class test_client {
 public:
  explicit test_client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~test_client() { close(); }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  bool connected() const { return connected_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool write(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads until `size` bytes came, EOF, an error or the deadline; returns what came.
  std::string read(std::size_t size, milliseconds timeout = 5000ms) {
    const auto deadline = steady::now() + timeout;
    std::string out;
    while (out.size() < size && !eof_) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) break;
      char buf[64 * 1024];
      std::size_t want = std::min(sizeof buf, size - out.size());
      ssize_t n = ::recv(fd_, buf, want, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // True if the server closed its side within `timeout` (reading and dropping any bytes first).
  bool sees_eof(milliseconds timeout = 5000ms) {
    const auto deadline = steady::now() + timeout;
    while (!eof_ && steady::now() < deadline)
      read(1 << 20, left_until(deadline));
    return eof_;
  }

 private:
  static milliseconds left_until(steady::time_point deadline) {
    return std::chrono::duration_cast<milliseconds>(deadline - steady::now());
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
};

TEST(ScriptedServer, ListensOnLoopbackAndCountsConnections) {
  std::atomic<int> played{0};
  rt::scripted_server server([&](rt::scripted_connection& c) {
    ++played;
    c.peer_closed(5s);
  });
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.url(), "redis://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(server.connections(), 0u);
  test_client a(server.port());
  test_client b(server.port());
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(b.connected());
  EXPECT_TRUE(wait_until([&] { return played.load() == 2; }));
  EXPECT_EQ(server.connections(), 2u);
}

TEST(ScriptedServer, ServesTheHandshakeAndReturnsTheFirstOtherCommand) {
  const std::string run_id = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd";
  std::promise<command> first;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    command cmd = c.serve_handshake(run_id);
    c.send(rt::resp_ok());
    first.set_value(cmd);
    c.peer_closed(5s);
  });
  test_client client(server.port());
  ASSERT_TRUE(client.connected());
  // Pipelined, as the library sends it on connect; SCRIPT LOAD in mixed case.
  ASSERT_TRUE(client.write(resp({"AUTH", "user", "secret"}) + resp({"SELECT", "3"}) +
                           resp({"PING"}) + resp({"INFO", "server"}) +
                           resp({"script", "Load", "return 1"}) +
                           resp({"SET", "k", "v", "NX", "PX", "1000"})));
  const std::string info =
      "# Server\r\nredis_version:7.0.15\r\nrun_id:" + run_id + "\r\nuptime_in_seconds:100\r\n";
  const std::string expected = "+OK\r\n+OK\r\n+PONG\r\n" + rt::resp_bulk(info) +
                               "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n" + "+OK\r\n";
  EXPECT_EQ(client.read(expected.size()), expected);
  auto got = first.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), (command{"SET", "k", "v", "NX", "PX", "1000"}));
}

TEST(ScriptedServer, HandshakeWithTheDefaultRunIdAndNoAuth) {
  std::promise<command> first;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    first.set_value(c.serve_handshake());
    c.peer_closed(5s);
  });
  test_client client(server.port());
  ASSERT_TRUE(client.write(resp({"PING"}) + resp({"INFO", "server"}) +
                           resp({"EVALSHA", "abc", "1", "k", "t"})));
  const std::string info =
      "# Server\r\nredis_version:7.0.15\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n"
      "uptime_in_seconds:100\r\n";
  const std::string expected = "+PONG\r\n" + rt::resp_bulk(info);
  EXPECT_EQ(client.read(expected.size()), expected);
  auto got = first.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), (command{"EVALSHA", "abc", "1", "k", "t"}));
}

TEST(ScriptedServer, HandshakeReturnsEmptyOnEof) {
  std::promise<command> first;
  rt::scripted_server server(
      [&](rt::scripted_connection& c) { first.set_value(c.serve_handshake()); });
  {
    test_client client(server.port());
    ASSERT_TRUE(client.write(resp({"PING"})));
    EXPECT_EQ(client.read(7), "+PONG\r\n");
  }
  auto got = first.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(got.get().empty());
}

TEST(ScriptedServer, ReplyHelpersFormatResp) {
  EXPECT_EQ(rt::resp_ok(), "+OK\r\n");
  EXPECT_EQ(rt::resp_nil(), "$-1\r\n");
  EXPECT_EQ(rt::resp_int(-42), ":-42\r\n");
  EXPECT_EQ(rt::resp_bulk(std::string("a\0b", 3)), std::string("$3\r\na\0b\r\n", 9));
  EXPECT_EQ(rt::resp_bulk(""), "$0\r\n\r\n");
  EXPECT_EQ(rt::resp_error("NOSCRIPT No matching script"), "-NOSCRIPT No matching script\r\n");
  EXPECT_EQ(rt::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(ScriptedServer, SendsRawBytesVerbatim) {
  // A RESP3 push, a wrong type, malformed bytes, a NUL, a huge bulk length, then 1 MiB more
  // (larger than the socket buffers: send must write it all).
  std::string raw = ">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n" + std::string(":x\r\n\x00\xff", 6) +
                    "$9999999999999\r\n" + std::string(1 << 20, 'z');
  rt::scripted_server server([&](rt::scripted_connection& c) {
    c.send(raw);
    c.peer_closed(5s);
  });
  test_client client(server.port());
  EXPECT_EQ(client.read(raw.size()), raw);
}

TEST(ScriptedServer, ParsesSplitPipelinedAndInlineCommands) {
  std::promise<std::vector<std::optional<command>>> seen;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    std::vector<std::optional<command>> out;
    for (int i = 0; i < 5; ++i)
      out.push_back(c.read_command());
    seen.set_value(out);
  });
  test_client client(server.port());
  const std::string set = resp({"SET", "k", std::string("v\r\n\0", 4), "NX"});
  ASSERT_TRUE(client.write(set.substr(0, 7)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.write(set.substr(7) + "*0\r\n" + resp({"GET", "k"})));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.write("\r\nping  hello\r\nQUIT\n"));
  client.close();
  auto got = seen.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  auto commands = got.get();
  ASSERT_EQ(commands.size(), 5u);
  EXPECT_EQ(commands[0], (command{"SET", "k", std::string("v\r\n\0", 4), "NX"}));
  EXPECT_EQ(commands[1], (command{"GET", "k"}));
  EXPECT_EQ(commands[2], (command{"ping", "hello"}));
  EXPECT_EQ(commands[3], (command{"QUIT"}));
  EXPECT_EQ(commands[4], std::nullopt);  // EOF
}

TEST(ScriptedServer, MalformedCommandEndsReading) {
  std::promise<std::pair<bool, bool>> seen;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    bool first = c.read_command(2s).has_value();
    bool second = c.read_command(100ms).has_value();
    seen.set_value({first, second});
    c.peer_closed(5s);
  });
  test_client client(server.port());
  ASSERT_TRUE(client.write("*1\r\n$x\r\n" + resp({"PING"})));
  auto got = seen.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), std::make_pair(false, false));
}

TEST(ScriptedServer, ReadCommandReturnsNulloptOnTimeoutAndTheConnectionStaysUsable) {
  std::promise<milliseconds> waited;
  std::promise<std::optional<command>> after;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    const auto t0 = steady::now();
    bool timed_out = !c.read_command(150ms).has_value();
    waited.set_value(timed_out ? since(t0) : milliseconds(-1));
    c.send("+TIMEOUT\r\n");
    after.set_value(c.read_command());
  });
  test_client client(server.port());
  EXPECT_EQ(client.read(10), "+TIMEOUT\r\n");
  auto w = waited.get_future();
  ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
  EXPECT_GE(w.get(), 150ms);
  ASSERT_TRUE(client.write(resp({"PING"})));
  auto a = after.get_future();
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(a.get(), (command{"PING"}));
}

TEST(ScriptedServer, PeerClosedTellsWhetherTheClientClosed) {
  std::promise<bool> while_open;
  std::promise<bool> after_close;
  std::promise<std::optional<command>> buffered;
  rt::scripted_server server([&](rt::scripted_connection& c) {
    while_open.set_value(c.peer_closed(100ms));
    c.send("+READY\r\n");
    after_close.set_value(c.peer_closed(5s));
    buffered.set_value(c.read_command(100ms));  // sent before the close, kept by peer_closed
  });
  test_client client(server.port());
  EXPECT_EQ(client.read(8), "+READY\r\n");
  auto open = while_open.get_future();
  ASSERT_EQ(open.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(open.get());
  ASSERT_TRUE(client.write(resp({"DEL", "k"})));
  client.close();
  auto closed = after_close.get_future();
  ASSERT_EQ(closed.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(closed.get());
  auto b = buffered.get_future();
  ASSERT_EQ(b.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(b.get(), (command{"DEL", "k"}));
}

TEST(ScriptedServer, CloseMidReplyAndReturnFromPlayCloseTheConnection) {
  rt::scripted_server server([](rt::scripted_connection& c) {
    if (!c.read_command()) return;
    c.send("$10\r\nabc");
    c.close();
    c.send("never");  // ignored after close
    EXPECT_FALSE(c.read_command(10ms).has_value());
    EXPECT_FALSE(c.peer_closed(10ms));
  });
  test_client client(server.port());
  ASSERT_TRUE(client.write(resp({"GET", "k"})));
  EXPECT_EQ(client.read(100), "$10\r\nabc");
  EXPECT_TRUE(client.sees_eof());

  rt::scripted_server returns([](rt::scripted_connection& c) { c.send("+HI\r\n"); });
  test_client second(returns.port());
  EXPECT_EQ(second.read(100), "+HI\r\n");
  EXPECT_TRUE(second.sees_eof());
}

TEST(ScriptedServer, DestructorReturnsWhilePlaysAreBlocked) {
  std::atomic<int> entered{0};
  std::atomic<int> read_nullopt{0};
  std::atomic<int> peer_closed_false{0};
  const std::size_t fds_before = count_entries("/proc/self/fd");
  auto server = std::make_unique<rt::scripted_server>([&](rt::scripted_connection& c) {
    ++entered;
    if (c.read_command(60s) == std::nullopt) ++read_nullopt;
    if (!c.peer_closed(60s)) ++peer_closed_false;
    if (c.read_command(60s) == std::nullopt) ++read_nullopt;  // returns at once once stopping
  });
  test_client first(server->port());
  test_client second(server->port());
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(second.connected());
  ASSERT_TRUE(wait_until([&] { return entered.load() == 2; }));
  std::this_thread::sleep_for(50ms);  // let both plays block in read_command
  const auto t0 = steady::now();
  server.reset();
  EXPECT_LT(since(t0), 5000ms);
  EXPECT_EQ(read_nullopt.load(), 4);
  EXPECT_EQ(peer_closed_false.load(), 2);
  EXPECT_TRUE(first.sees_eof());
  EXPECT_TRUE(second.sees_eof());
  first.close();
  second.close();
  EXPECT_EQ(count_entries("/proc/self/fd"), fds_before);  // every socket and the pipe closed
}

TEST(ScriptedServer, DestructorWithoutConnections) {
  const auto t0 = steady::now();
  {
    rt::scripted_server idle([](rt::scripted_connection&) {});
  }
  EXPECT_LT(since(t0), 5000ms);
}

}  // namespace
