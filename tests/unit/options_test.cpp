#include "options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

namespace redlock::detail {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

client_options three_nodes() {
  client_options o;
  o.endpoints = {"redis://127.0.0.1:7001", "redis://127.0.0.1:7002", "redis://127.0.0.1:7003"};
  return o;
}

TEST(ClientOptions, DefaultsWithEndpointsAreValid) {
  auto checked = check_client_options(three_nodes());
  ASSERT_TRUE(checked) << checked.message();
  EXPECT_EQ(checked->endpoints.size(), 3u);
  EXPECT_EQ(checked->endpoints[1].port, 7002);
}

struct bad_case {
  const char* name;
  std::function<void(client_options&)> spoil;
  errc code;
  const char* message;
};

TEST(ClientOptions, EachBadValueIsRefusedByName) {
  const bad_case cases[] = {
      {"no endpoints", [](client_options& o) { o.endpoints.clear(); }, errc::invalid_option,
       "invalid option endpoints: at least one endpoint is required"},
      {"malformed", [](client_options& o) { o.endpoints[1] = "redis://h:0"; },
       errc::invalid_endpoint, "invalid endpoint 'redis://h:0'"},
      {"duplicate", [](client_options& o) { o.endpoints[2] = "redis://127.0.0.1:7001/3"; },
       errc::invalid_endpoint, "names the same server as endpoint #1 'redis://127.0.0.1:7001'"},
      {"node_timeout 0", [](client_options& o) { o.node_timeout = milliseconds(0); },
       errc::invalid_option, "invalid option node_timeout: must be > 0 ms (got 0 ms)"},
      {"connect_timeout <0", [](client_options& o) { o.connect_timeout = milliseconds(-1); },
       errc::invalid_option, "invalid option connect_timeout: must be > 0 ms (got -1 ms)"},
      {"reconnect_min 0", [](client_options& o) { o.reconnect_min = milliseconds(0); },
       errc::invalid_option, "invalid option reconnect_min"},
      {"reconnect_max < min",
       [](client_options& o) {
         o.reconnect_min = milliseconds(100);
         o.reconnect_max = milliseconds(50);
       },
       errc::invalid_option,
       "invalid option reconnect_max: must be >= reconnect_min (100 ms) (got 50 ms)"},
      {"retry_delay <0", [](client_options& o) { o.retry_delay = milliseconds(-5); },
       errc::invalid_option, "invalid option retry_delay: must be >= 0 ms (got -5 ms)"},
      {"retry_jitter huge", [](client_options& o) { o.retry_jitter = milliseconds::max(); },
       errc::invalid_option, "invalid option retry_jitter: must be at most one year"},
      {"drift negative", [](client_options& o) { o.drift_factor = -0.1; }, errc::invalid_option,
       "invalid option drift_factor: must be in [0, 0.5) (got -0.1)"},
      {"drift 0.5", [](client_options& o) { o.drift_factor = 0.5; }, errc::invalid_option,
       "invalid option drift_factor: must be in [0, 0.5) (got 0.5)"},
      {"drift NaN", [](client_options& o) { o.drift_factor = std::nan(""); }, errc::invalid_option,
       "invalid option drift_factor"},
      {"quarantine.max_ttl 0", [](client_options& o) { o.quarantine.max_ttl = milliseconds(0); },
       errc::invalid_option, "invalid option quarantine.max_ttl: must be > 0 ms (got 0 ms)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    client_options o = three_nodes();
    c.spoil(o);
    auto checked = check_client_options(o);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error(), c.code);
    EXPECT_THAT(checked.message(), HasSubstr(c.message));
  }
}

// With the quarantine off, ttls are not bound by its max_ttl (only by a year).
TEST(AcquireOptions, ALongTtlIsAllowedWithTheQuarantineOff) {
  client_options c = three_nodes();
  acquire_options a;
  a.ttl = std::chrono::hours(24);
  EXPECT_FALSE(check_acquire({"r"}, a, c));
  c.quarantine.enabled = false;
  EXPECT_TRUE(check_acquire({"r"}, a, c));
  c.quarantine.enabled = true;
  c.quarantine.max_ttl = std::chrono::hours(24);
  EXPECT_TRUE(check_acquire({"r"}, a, c));
}

TEST(ClientOptions, DriftZeroIsAllowed) {
  client_options o = three_nodes();
  o.drift_factor = 0.0;
  EXPECT_TRUE(check_client_options(o));
}

TEST(AcquireOptions, ValidDefaults) {
  client_options c = three_nodes();
  EXPECT_TRUE(check_acquire({"r"}, {}, c));
}

TEST(AcquireOptions, EachBadValueIsRefusedByName) {
  client_options c = three_nodes();
  c.node_timeout = milliseconds(50);
  auto expect_bad = [&](std::string_view resource, acquire_options a, const char* message) {
    auto r = check_acquire({std::string(resource)}, a, c);
    ASSERT_FALSE(r) << message;
    EXPECT_EQ(r.error(), errc::invalid_option);
    EXPECT_THAT(r.message(), HasSubstr(message));
  };
  expect_bad("", {}, "invalid option resource: must not be empty");
  acquire_options a;
  a.ttl = milliseconds(0);
  expect_bad("r", a, "invalid option ttl: must be > 0 ms (got 0 ms)");
  a.ttl = milliseconds(50);
  expect_bad("r", a, "invalid option ttl: must be larger than node_timeout (50 ms) (got 50 ms)");
  a.ttl = std::chrono::hours(24 * 366);
  expect_bad("r", a, "invalid option ttl: must be at most one year");
  a.ttl = milliseconds(60'001);
  expect_bad("r", a,
             "invalid option ttl: must be at most quarantine.max_ttl (60000 ms), the longest ttl "
             "the quarantine of restarted servers covers (got 60001 ms)");
  a = {};
  a.wait = milliseconds(-1);
  expect_bad("r", a, "invalid option wait: must be >= 0 ms (got -1 ms)");
  a = {};
  a.max_attempts = 0;
  expect_bad("r", a, "invalid option max_attempts: must be >= 1 (got 0)");
  a = {};
  a.fencing = true;
  c.key_prefix.clear();
  expect_bad("r", a, "invalid option key_prefix: must not be empty for a fenced acquire");
  c.key_prefix = "redlock:";
  a = {};
  a.lost_margin = 0.6;
  expect_bad("r", a, "invalid option lost_margin: must be in [0, 0.5] (got 0.6)");
  a.lost_margin = std::nan("");
  expect_bad("r", a, "invalid option lost_margin: must be in [0, 0.5] (got nan)");
  a.lost_margin = 0.5;  // with the default drift_factor of 0.01, less than half is left
  expect_bad("r", a,
             "invalid option lost_margin: with drift_factor (0.01) must leave at least half of "
             "the ttl (got 0.5)");
  a = {};
  a.auto_extend.max_hold = milliseconds(-5);
  expect_bad("r", a, "invalid option auto_extend.max_hold: must be >= 0 ms (got -5 ms)");
  a = {};
  a.auto_extend.enabled = true;
  a.auto_extend.extend_at = 0.9;  // after the margin (0.1) and the drift (0.01)
  expect_bad("r", a,
             "invalid option auto_extend.extend_at: must be in (0, 0.89), below 1 - lost_margin "
             "- drift_factor (got 0.9)");
  a.auto_extend.extend_at = 0;
  expect_bad("r", a, "invalid option auto_extend.extend_at: must be in (0, 0.89)");
  a.auto_extend.extend_at = 0.5;
  EXPECT_TRUE(check_acquire({"r"}, a, three_nodes()));
}

TEST(AcquireOptions, ALockOnSeveralResourcesNamesEachOnceAndNoneEmpty) {
  client_options c = three_nodes();
  auto expect_bad = [&](std::vector<std::string> resources, const char* message) {
    auto r = check_acquire(resources, {}, c);
    ASSERT_FALSE(r) << message;
    EXPECT_EQ(r.error(), errc::invalid_option);
    EXPECT_THAT(r.message(), HasSubstr(message));
  };
  EXPECT_TRUE(check_acquire({"a", "b", "c"}, {}, c));
  expect_bad({}, "invalid option resources: at least one resource is required");
  expect_bad({"a", ""}, "invalid option resources: resource #2 is empty");
  expect_bad({"a", "b", "a"},
             "invalid option resources: resource #3 'a' is the same as resource #1");
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= max_resources; ++i)
    many.push_back("r" + std::to_string(i));
  expect_bad(many, "invalid option resources: at most 1000 in one lock (got 1001)");
  many.pop_back();
  EXPECT_TRUE(check_acquire(many, {}, c));
}

TEST(AcquireOptions, ForeverWaitIsFine) {
  acquire_options a;
  a.wait = milliseconds::max();
  EXPECT_TRUE(check_acquire({"r"}, a, three_nodes()));
}

}  // namespace
}  // namespace redlock::detail
