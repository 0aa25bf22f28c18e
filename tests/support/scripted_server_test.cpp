// Self-test of the scripted fake server, through a plain blocking client socket: the handshake
// it serves, the bytes it sends, what read_command and peer_closed report, and a destructor that
// returns while a play is still blocked.
#include "scripted_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loopback_client.hpp"
#include "redis_fleet.hpp"  // encode_command
#include "test_helpers.hpp"

namespace {

namespace rt = redlock::testing;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using command = std::vector<std::string>;
using rt::encode_command;
using rt::eventually;
using rt::loopback_client;
using rt::open_fd_count;
using rt::since;

TEST(ScriptedServer, ListensOnLoopbackAndCountsConnections) {
  std::atomic<int> played{0};
  rt::scripted_server server([&](rt::scripted_connection& c) {
    ++played;
    c.peer_closed(5s);
  });
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.url(), "redis://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(server.connections(), 0u);
  loopback_client a;
  loopback_client b;
  ASSERT_EQ(a.connect(server.port()), 0);
  ASSERT_EQ(b.connect(server.port()), 0);
  EXPECT_TRUE(eventually([&] { return played.load() == 2; }));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  // Pipelined, as the library sends it on connect; SCRIPT LOAD in mixed case.
  ASSERT_TRUE(client.send(encode_command({"AUTH", "user", "secret"}) +
                          encode_command({"SELECT", "3"}) + encode_command({"PING"}) +
                          encode_command({"INFO", "server"}) +
                          encode_command({"script", "Load", "return 1"}) +
                          encode_command({"SET", "k", "v", "NX", "PX", "1000"})));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  ASSERT_TRUE(client.send(encode_command({"PING"}) + encode_command({"INFO", "server"}) +
                          encode_command({"EVALSHA", "abc", "1", "k", "t"})));
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
    loopback_client client;
    ASSERT_EQ(client.connect(server.port()), 0);
    ASSERT_TRUE(client.send(encode_command({"PING"})));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  const std::string set = encode_command({"SET", "k", std::string("v\r\n\0", 4), "NX"});
  ASSERT_TRUE(client.send(set.substr(0, 7)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.send(set.substr(7) + "*0\r\n" + encode_command({"GET", "k"})));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.send("\r\nping  hello\r\nQUIT\n"));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  ASSERT_TRUE(client.send("*1\r\n$x\r\n" + encode_command({"PING"})));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  EXPECT_EQ(client.read(10), "+TIMEOUT\r\n");
  auto w = waited.get_future();
  ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
  EXPECT_GE(w.get(), 150ms);
  ASSERT_TRUE(client.send(encode_command({"PING"})));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  EXPECT_EQ(client.read(8), "+READY\r\n");
  auto open = while_open.get_future();
  ASSERT_EQ(open.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(open.get());
  ASSERT_TRUE(client.send(encode_command({"DEL", "k"})));
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
  loopback_client client;
  ASSERT_EQ(client.connect(server.port()), 0);
  ASSERT_TRUE(client.send(encode_command({"GET", "k"})));
  EXPECT_EQ(client.read(100), "$10\r\nabc");
  EXPECT_TRUE(client.ended());

  rt::scripted_server returns([](rt::scripted_connection& c) { c.send("+HI\r\n"); });
  loopback_client second;
  ASSERT_EQ(second.connect(returns.port()), 0);
  EXPECT_EQ(second.read(100), "+HI\r\n");
  EXPECT_TRUE(second.ended());
}

TEST(ScriptedServer, DestructorReturnsWhilePlaysAreBlocked) {
  std::atomic<int> entered{0};
  std::atomic<int> read_nullopt{0};
  std::atomic<int> peer_closed_false{0};
  const std::size_t fds_before = open_fd_count();
  auto server = std::make_unique<rt::scripted_server>([&](rt::scripted_connection& c) {
    ++entered;
    if (c.read_command(60s) == std::nullopt) ++read_nullopt;
    if (!c.peer_closed(60s)) ++peer_closed_false;
    if (c.read_command(60s) == std::nullopt) ++read_nullopt;  // returns at once once stopping
  });
  loopback_client first;
  loopback_client second;
  ASSERT_EQ(first.connect(server->port()), 0);
  ASSERT_EQ(second.connect(server->port()), 0);
  ASSERT_TRUE(eventually([&] { return entered.load() == 2; }));
  std::this_thread::sleep_for(50ms);  // let both plays block in read_command
  const auto t0 = steady::now();
  server.reset();
  EXPECT_LT(since(t0), 5000ms);
  EXPECT_EQ(read_nullopt.load(), 4);
  EXPECT_EQ(peer_closed_false.load(), 2);
  EXPECT_TRUE(first.ended());
  EXPECT_TRUE(second.ended());
  first.close();
  second.close();
  EXPECT_EQ(open_fd_count(), fds_before);  // every socket and the pipe closed
}

TEST(ScriptedServer, DestructorWithoutConnections) {
  const auto t0 = steady::now();
  {
    rt::scripted_server idle([](rt::scripted_connection&) {});
  }
  EXPECT_LT(since(t0), 5000ms);
}

}  // namespace
