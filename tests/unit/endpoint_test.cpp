// Unit tests of endpoint URL parsing, display, identity (lib/endpoint.cpp). No sockets.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "endpoint.hpp"

namespace {

using redlock::errc;
using redlock::detail::endpoint;
using redlock::detail::parse_endpoint;
using transport = endpoint::transport;

endpoint parse_ok(const std::string& url) {
  auto r = parse_endpoint(url);
  EXPECT_TRUE(r) << url << " -> " << r.message();
  return r ? *r : endpoint{};
}

struct good_case {
  std::string url;
  endpoint want;
};

endpoint tcp(std::string host, std::uint16_t port, int db = 0, std::string user = {},
             std::optional<std::string> password = {}) {
  endpoint e;
  e.host = std::move(host);
  e.port = port;
  e.db = db;
  e.user = std::move(user);
  e.has_password = password.has_value();
  e.password = password.value_or("");
  return e;
}

endpoint unix_socket(std::string path, int db = 0, std::string user = {},
                     std::optional<std::string> password = {}) {
  endpoint e = tcp({}, 6379, db, std::move(user), std::move(password));
  e.kind = transport::unix_socket;
  e.path = std::move(path);
  return e;
}

void expect_same(const endpoint& got, const endpoint& want) {
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.port, want.port);
  EXPECT_EQ(got.path, want.path);
  EXPECT_EQ(got.db, want.db);
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.password, want.password);
  EXPECT_EQ(got.has_password, want.has_password);
}

TEST(EndpointParse, AcceptsGoodForms) {
  const std::vector<good_case> cases = {
      // tcp hosts: IPv4, IPv6, names; default and explicit port
      {"redis://10.0.0.1:6380", tcp("10.0.0.1", 6380)},
      {"redis://10.0.0.1", tcp("10.0.0.1", 6379)},
      {"redis://[::1]:7001", tcp("::1", 7001)},
      {"redis://[::1]", tcp("::1", 6379)},
      {"redis://[fe80::1:2]:7001/3", tcp("fe80::1:2", 7001, 3)},
      {"redis://[::ffff:10.0.0.1]:7001", tcp("::ffff:10.0.0.1", 7001)},
      {"redis://localhost", tcp("localhost", 6379)},
      {"redis://redis-1.prod_east.example.com:7000", tcp("redis-1.prod_east.example.com", 7000)},
      {"redis://Redis.Example.COM", tcp("Redis.Example.COM", 6379)},
      {"REDIS://localhost", tcp("localhost", 6379)},
      // port and db bounds, trailing '/'
      {"redis://h:1", tcp("h", 1)},
      {"redis://h:65535", tcp("h", 65535)},
      {"redis://h/2", tcp("h", 6379, 2)},
      {"redis://h:7000/15", tcp("h", 7000, 15)},
      {"redis://h/0", tcp("h", 6379, 0)},
      {"redis://h/", tcp("h", 6379, 0)},
      {"redis://h:7000/", tcp("h", 7000, 0)},
      {"redis://h/2147483647", tcp("h", 6379, 2147483647)},
      // user and password
      {"redis://app:s3cret@h:7000/2", tcp("h", 7000, 2, "app", "s3cret")},
      {"redis://:s3cret@h", tcp("h", 6379, 0, "", "s3cret")},
      {"redis://app@h", tcp("h", 6379, 0, "app")},
      {"redis://[::1]:7001", tcp("::1", 7001)},
      {"redis://app:s3cret@[::1]:7001/1", tcp("::1", 7001, 1, "app", "s3cret")},
      // percent-decoding in user and password
      {"redis://a%40b:p%40ss%3Aword@h", tcp("h", 6379, 0, "a@b", "p@ss:word")},
      {"redis://:%2f%2F%25@h", tcp("h", 6379, 0, "", "//%")},
      // raw ':', '@', '/', '?' in a password: userinfo runs to the last '@'
      {"redis://app:a:b@c/d?e@h:7000", tcp("h", 7000, 0, "app", "a:b@c/d?e")},
      // unix sockets
      {"unix:///tmp/r.sock", unix_socket("/tmp/r.sock")},
      {"UNIX:///tmp/r.sock", unix_socket("/tmp/r.sock")},
      {"unix:///tmp/r.sock?db=1", unix_socket("/tmp/r.sock", 1)},
      {"unix:///tmp/r.sock?db=1&user=app&password=s3cret",
       unix_socket("/tmp/r.sock", 1, "app", "s3cret")},
      {"unix:///tmp/r.sock?password=s3cret&db=4&user=app",
       unix_socket("/tmp/r.sock", 4, "app", "s3cret")},
      {"unix:///tmp/r.sock?user=app&password=s3cret",
       unix_socket("/tmp/r.sock", 0, "app", "s3cret")},
      {"unix:///tmp/r.sock?password=a%26b%3D%40", unix_socket("/tmp/r.sock", 0, "", "a&b=@")},
      {"unix:///var/run/redis@6379/r.sock", unix_socket("/var/run/redis@6379/r.sock")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    expect_same(parse_ok(c.url), c.want);
  }
}

struct bad_case {
  std::string url;
  std::string shown;    // the URL as the message must print it
  std::string problem;  // what the message must say is wrong
};

TEST(EndpointParse, RejectsBadUrlsWithSpecificMessages) {
  const std::vector<bad_case> cases = {
      {"", "", "empty URL"},
      {"localhost:6379", "localhost:6379",
       "missing scheme (expected redis://, rediss://, unix:// or redis+sentinel://)"},
      {"redis:/h", "redis:/h",
       "missing scheme (expected redis://, rediss://, unix:// or redis+sentinel://)"},
      {"http://h", "http://h",
       "unsupported scheme 'http' (expected redis://, rediss://, unix:// or redis+sentinel://)"},
      // host
      {"redis://", "redis://", "missing host"},
      {"redis://:6379", "redis://:6379", "missing host"},
      {"redis://:s3cret@", "redis://:***@", "missing host"},
      {"redis:///2", "redis:///2", "missing host"},
      {"redis://h!st", "redis://h!st", "invalid character '!' in host 'h!st'"},
      {"redis://h st", "redis://h st", "invalid character ' ' in host 'h st'"},
      {"redis://999.0.0.1", "redis://999.0.0.1", "'999.0.0.1' is not an IPv4 address"},
      {"redis://10.1", "redis://10.1", "'10.1' is not an IPv4 address"},
      {"redis://[::1", "redis://[::1", "unterminated IPv6 literal"},
      {"redis://[::1:7000", "redis://[::1:7000", "unterminated IPv6 literal"},
      {"redis://[]:7000", "redis://[]:7000",
       "'' is not an IPv6 address (zone ids are not supported)"},
      {"redis://[zz::1]", "redis://[zz::1]",
       "'zz::1' is not an IPv6 address (zone ids are not supported)"},
      {"redis://[fe80::1%25lo]", "redis://[fe80::1%25lo]",
       "'fe80::1%25lo' is not an IPv6 address (zone ids are not supported)"},
      {"redis://[::1]x", "redis://[::1]x", "unexpected 'x' after IPv6 literal"},
      {"redis://::1", "redis://::1", "IPv6 literal must be in brackets, e.g. [::1]:6379"},
      {"redis://fe80::1:7000", "redis://fe80::1:7000",
       "IPv6 literal must be in brackets, e.g. [::1]:6379"},
      // port
      {"redis://h:", "redis://h:", "missing port after ':'"},
      {"redis://h:99999", "redis://h:99999", "port '99999' is not in 1..65535"},
      {"redis://h:65536", "redis://h:65536", "port '65536' is not in 1..65535"},
      {"redis://h:0", "redis://h:0", "port '0' is not in 1..65535"},
      {"redis://h:-1", "redis://h:-1", "port '-1' is not in 1..65535"},
      {"redis://h:+80", "redis://h:+80", "port '+80' is not in 1..65535"},
      {"redis://h:abc", "redis://h:abc", "port 'abc' is not in 1..65535"},
      {"redis://h: 80", "redis://h: 80", "port ' 80' is not in 1..65535"},
      {"redis://[::1]:", "redis://[::1]:", "missing port after ':'"},
      {"redis://[::1]:99999", "redis://[::1]:99999", "port '99999' is not in 1..65535"},
      // db
      {"redis://h/x", "redis://h/x", "db 'x' is not a non-negative integer"},
      {"redis://h/-1", "redis://h/-1", "db '-1' is not a non-negative integer"},
      {"redis://h/+1", "redis://h/+1", "db '+1' is not a non-negative integer"},
      {"redis://h/ 1", "redis://h/ 1", "db ' 1' is not a non-negative integer"},
      {"redis://h/1 ", "redis://h/1 ", "db '1 ' is not a non-negative integer"},
      {"redis://h//", "redis://h//", "db '/' is not a non-negative integer"},
      {"redis://h/1/2", "redis://h/1/2", "db '1/2' is not a non-negative integer"},
      {"redis://h/2147483648", "redis://h/2147483648", "db '2147483648' is larger than 2147483647"},
      {"redis://h/99999999999999999999999", "redis://h/99999999999999999999999",
       "db '99999999999999999999999' is larger than 2147483647"},
      // user and password
      {"redis://@h", "redis://@h", "empty user info before '@'"},
      {"redis://:@h", "redis://:***@h", "empty password after ':'"},
      {"redis://app:@h", "redis://app:***@h", "empty password after ':'"},
      {"redis://a%4@h", "redis://a%4@h", "invalid percent-escape in user"},
      {"redis://app:s3cret%zz@h", "redis://app:***@h", "invalid percent-escape in password"},
      {"redis://app:s3cret%@h", "redis://app:***@h", "invalid percent-escape in password"},
      {"redis://h/0#x@y", "redis://h/0#x@y",
       "invalid character in user 'h/0#x' (percent-encode it)"},
      // query strings
      {"redis://h?db=1", "redis://h?db=1", "unexpected query string"},
      {"redis://app:s3cret@h:7000/1?password=s3cret", "redis://app:***@h:7000/1?password=***",
       "unexpected query string"},
      // unix
      {"unix://", "unix://", "missing unix socket path"},
      {"unix://?db=1", "unix://?db=1", "missing unix socket path"},
      {"unix://tmp/r.sock", "unix://tmp/r.sock", "unix socket path must be absolute"},
      {"unix:///" + std::string(200, 'x'), "unix:///" + std::string(200, 'x'),
       "unix socket path is longer than 107 bytes"},
      {"unix:///tmp/r.sock?foo=1", "unix:///tmp/r.sock?foo=***", "unknown query parameter 'foo'"},
      {"unix:///tmp/r.sock?db=1&pasword=s3cret", "unix:///tmp/r.sock?db=1&pasword=***",
       "unknown query parameter 'pasword'"},
      {"unix:///tmp/r.sock?", "unix:///tmp/r.sock?", "empty query parameter"},
      {"unix:///tmp/r.sock?db=1&&user=a", "unix:///tmp/r.sock?db=1&&user=a",
       "empty query parameter"},
      {"unix:///tmp/r.sock?db=1&db=2", "unix:///tmp/r.sock?db=1&db=2",
       "duplicate query parameter 'db'"},
      {"unix:///tmp/r.sock?db=x", "unix:///tmp/r.sock?db=x",
       "db 'x' is not a non-negative integer"},
      {"unix:///tmp/r.sock?db=", "unix:///tmp/r.sock?db=", "db '' is not a non-negative integer"},
      {"unix:///tmp/r.sock?db", "unix:///tmp/r.sock?db", "db '' is not a non-negative integer"},
      {"unix:///tmp/r.sock?db=-2", "unix:///tmp/r.sock?db=-2",
       "db '-2' is not a non-negative integer"},
      {"unix:///tmp/r.sock?user=", "unix:///tmp/r.sock?user=",
       "query parameter 'user' has no value"},
      {"unix:///tmp/r.sock?password=", "unix:///tmp/r.sock?password=***",
       "query parameter 'password' has no value"},
      {"unix:///tmp/r.sock?user=a%g1", "unix:///tmp/r.sock?user=a%g1",
       "invalid percent-escape in user"},
      {"unix:///tmp/r.sock?password=s3cret%", "unix:///tmp/r.sock?password=***",
       "invalid percent-escape in password"},
      {"unix:///tmp/r.sock?password=s3c&ret", "unix:///tmp/r.sock?password=***",
       "unexpected text after the password (write '&' in it as %26)"},
      {"unix:///tmp/r.sock?password=s3cret&password=s3cret", "unix:///tmp/r.sock?password=***",
       "duplicate query parameter 'password'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    auto r = parse_endpoint(c.url);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::invalid_endpoint);
    EXPECT_EQ(r.message(), "invalid endpoint '" + c.shown + "': " + c.problem);
    EXPECT_EQ(r.message().find("s3cret"), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find("ret"), std::string::npos) << r.message();
  }
}

TEST(EndpointParse, RedissIsRedisOverTls) {
  auto e = parse_endpoint("rediss://app:s3cret@cache.example:6380/2");
  ASSERT_TRUE(e) << e.message();
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->host, "cache.example");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_EQ(e->display(), "rediss://app:***@cache.example:6380/2");
  EXPECT_FALSE(parse_endpoint("redis://h")->tls);
  // The same server by TLS and by plain TCP on one port is still refused as one server.
  EXPECT_EQ(parse_endpoint("rediss://h:1")->identity(), parse_endpoint("redis://h:1")->identity());
}

TEST(EndpointParse, SentinelGroupsNameTheirSentinelsAndMaster) {
  auto e =
      parse_endpoint("redis+sentinel://app:p%40ss@10.0.0.1,[::1]:26380,s3.example:5/mymaster/2");
  ASSERT_TRUE(e) << e.message();
  ASSERT_TRUE(e->is_sentinel_group());
  ASSERT_EQ(e->sentinels.size(), 3u);
  EXPECT_EQ(e->sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(e->sentinels[0].port, 26379);  // the sentinels' default port
  EXPECT_EQ(e->sentinels[1].host, "::1");
  EXPECT_EQ(e->sentinels[1].port, 26380);
  EXPECT_EQ(e->sentinels[2].host, "s3.example");
  EXPECT_EQ(e->master_name, "mymaster");
  EXPECT_EQ(e->db, 2);
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_TRUE(e->host.empty()) << "the master is named by the sentinels, not the URL";
  EXPECT_EQ(e->display(),
            "redis+sentinel://app:***@10.0.0.1:26379,[::1]:26380,s3.example:5/mymaster/2");
  EXPECT_TRUE(parse_endpoint("REDISS+SENTINEL://h/m")->tls);
  // The same group however its sentinels are ordered; another master name is another group.
  EXPECT_EQ(parse_endpoint("redis+sentinel://b:1,a:2/m")->identity(), "sentinel|m|a:2,b:1");
  EXPECT_EQ(parse_endpoint("redis+sentinel://a:2,b:1/m")->identity(), "sentinel|m|a:2,b:1");
  EXPECT_NE(parse_endpoint("redis+sentinel://a:2/m")->identity(),
            parse_endpoint("redis+sentinel://a:2/n")->identity());
}

TEST(EndpointParse, BadSentinelGroupsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis+sentinel://h:1", "missing master name after the sentinels (.../mymaster)"},
      {"redis+sentinel://h:1/", "missing master name after the sentinels (.../mymaster)"},
      {"redis+sentinel://h:1,/m", "sentinel #2: missing host"},
      {"redis+sentinel://h:0/m", "sentinel #1: port '0' is not in 1..65535"},
      {"redis+sentinel://h:1/my master", "invalid character ' ' in master name"},
      {"redis+sentinel://h:1/m/x", "db 'x' is not a non-negative integer"},
      {"redis+sentinel://h:1/m?db=1", "unexpected query string"},
  };
  for (const auto& [url, problem] : cases) {
    auto r = parse_endpoint(url);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error(), errc::invalid_endpoint);
    EXPECT_EQ(r.message(), "invalid endpoint '" + url + "': " + problem);
  }
  auto masked = parse_endpoint("redis+sentinel://u:secret@h:1");
  EXPECT_EQ(masked.message().find("secret"), std::string::npos) << masked.message();
}

TEST(EndpointParse, ErrorsNeverShowThePassword) {
  // Each of these has an error somewhere, and a password that the message must not quote.
  // (Without an '@' there is no password: "redis://:hunter2" is host "" and port "hunter2".)
  const std::vector<std::string> urls = {
      "rediss://u:hunter2@h:0",
      "redis://u:hunter2@h:0",
      "redis://u:hunter2@h/x",
      "redis://u:hunter2@[::1",
      "redis://:hunter2@@h:99999",
      "redis://u:hunter2@h?x=1",
      "redis://u:hun/ter2@h:0",
      "redis://u:hunter2://x@h:0",
      "u:hunter2@h",
      "redis://u:hunter2%@h",
      "redis://u:hunter2@h:7000:7001",
      "unix://rel?password=hunter2",
      "unix:///tmp/r.sock?password=hunter2&db=x",
      "unix:///tmp/r.sock?password=hun&ter2",
      "unix:///tmp/r.sock?password=hun&ter2=1",
      "unix:///tmp/r.sock?passwd=hunter2",
      "unix:///tmp/r.sock?db=1&secret=hunter2&db=x",
  };
  for (const auto& url : urls) {
    SCOPED_TRACE(url);
    auto r = parse_endpoint(url);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::invalid_endpoint);
    EXPECT_EQ(r.message().rfind("invalid endpoint '", 0), 0U) << r.message();
    EXPECT_EQ(r.message().find("hunter"), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find("ter2"), std::string::npos) << r.message();
  }
}

TEST(EndpointDisplay, MasksPasswordAndNormalizes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis://app:s3cret@10.0.0.1:6379/2", "redis://app:***@10.0.0.1:6379/2"},
      {"redis://:s3cret@h", "redis://:***@h:6379"},
      {"redis://app@h:7000", "redis://app@h:7000"},
      {"redis://[::1]:7000", "redis://[::1]:7000"},
      {"redis://localhost", "redis://localhost:6379"},
      {"redis://h/", "redis://h:6379"},
      {"redis://h/0", "redis://h:6379"},
      {"REDIS://Host.Example", "redis://Host.Example:6379"},
      {"redis://a%40b:p%40ss@h", "redis://a%40b:***@h:6379"},
      {"unix:///tmp/r.sock", "unix:///tmp/r.sock"},
      {"unix:///tmp/r.sock?db=1", "unix:///tmp/r.sock?db=1"},
      {"unix:///tmp/r.sock?password=s3cret&user=app&db=3",
       "unix:///tmp/r.sock?db=3&user=app&password=***"},
      {"unix:///tmp/r.sock?password=s3cret", "unix:///tmp/r.sock?password=***"},
  };
  for (const auto& [url, shown] : cases) {
    SCOPED_TRACE(url);
    endpoint e = parse_ok(url);
    EXPECT_EQ(e.display(), shown);
    EXPECT_EQ(e.display().find("s3cret"), std::string::npos);
  }
}

TEST(EndpointDisplay, MasksHandBuiltPasswordWithoutFlag) {
  endpoint e = tcp("h", 6379);
  e.password = "s3cret";  // has_password left false
  EXPECT_EQ(e.display(), "redis://:***@h:6379");
}

TEST(EndpointDisplay, ParsesBackToTheSameServer) {
  for (const char* url :
       {"redis://a%40b@[::1]:7000/5", "redis://h", "unix:///tmp/r.sock?db=2&user=a%26b"}) {
    SCOPED_TRACE(url);
    endpoint e = parse_ok(url);
    endpoint back = parse_ok(e.display());
    expect_same(back, e);
  }
}

TEST(EndpointIdentity, IgnoresDbUserAndPassword) {
  EXPECT_EQ(parse_ok("redis://h:7000").identity(), "tcp|h|7000");
  EXPECT_EQ(parse_ok("redis://h:7000").identity(),
            parse_ok("redis://app:s3cret@h:7000/3").identity());
  EXPECT_EQ(parse_ok("redis://:x@h").identity(), parse_ok("redis://h:6379/1").identity());
  EXPECT_EQ(parse_ok("unix:///tmp/r.sock").identity(), "unix|/tmp/r.sock");
  EXPECT_EQ(parse_ok("unix:///tmp/r.sock").identity(),
            parse_ok("unix:///tmp/r.sock?db=2&user=a&password=b").identity());
}

TEST(EndpointIdentity, HostIsCaseInsensitive) {
  EXPECT_EQ(parse_ok("redis://LocalHost:7000").identity(), "tcp|localhost|7000");
  EXPECT_EQ(parse_ok("redis://LocalHost:7000").identity(),
            parse_ok("redis://localhost:7000").identity());
  EXPECT_EQ(parse_ok("redis://[FE80::A]").identity(), parse_ok("redis://[fe80::a]").identity());
}

TEST(EndpointIdentity, CanonicalizesIpv6Literals) {
  EXPECT_EQ(parse_ok("redis://[::1]:7000").identity(), "tcp|::1|7000");
  EXPECT_EQ(parse_ok("redis://[0:0:0:0:0:0:0:1]:7000").identity(),
            parse_ok("redis://[::1]:7000").identity());
}

TEST(EndpointIdentity, DistinguishesServers) {
  EXPECT_NE(parse_ok("redis://h:7000").identity(), parse_ok("redis://h:7001").identity());
  EXPECT_NE(parse_ok("redis://h1").identity(), parse_ok("redis://h2").identity());
  EXPECT_NE(parse_ok("unix:///tmp/a.sock").identity(), parse_ok("unix:///tmp/b.sock").identity());
  EXPECT_NE(parse_ok("unix:///tmp/a.sock").identity(), parse_ok("redis://tmp").identity());
  // Case matters in paths.
  EXPECT_NE(parse_ok("unix:///tmp/A.sock").identity(), parse_ok("unix:///tmp/a.sock").identity());
}

TEST(EndpointHostIsLiteral, RecognizesIpLiterals) {
  EXPECT_TRUE(parse_ok("redis://10.0.0.1").host_is_literal());
  EXPECT_TRUE(parse_ok("redis://127.0.0.1:7000").host_is_literal());
  EXPECT_TRUE(parse_ok("redis://[::1]:7001").host_is_literal());
  EXPECT_TRUE(parse_ok("redis://[2001:db8::5]").host_is_literal());
  EXPECT_FALSE(parse_ok("redis://localhost").host_is_literal());
  EXPECT_FALSE(parse_ok("redis://redis-1.example.com").host_is_literal());
  EXPECT_FALSE(parse_ok("redis://10.0.0.1.example.com").host_is_literal());
  EXPECT_FALSE(parse_ok("unix:///tmp/r.sock").host_is_literal());
}

}  // namespace
