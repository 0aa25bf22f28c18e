// prometheus_text: the exact exposition of a small input, label escaping, and endpoints that
// never carry a password.
#include "redlock/prometheus.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "endpoint.hpp"

namespace redlock::testing {
namespace {

using std::chrono::microseconds;
using ::testing::HasSubstr;
using ::testing::Not;

client_metrics small_metrics() {
  client_metrics m;
  m.acquires = 5;
  m.granted = 3;
  m.acquires_failed[0] = 2;  // held_elsewhere
  m.attempts = 9;
  m.granted_wait = {microseconds(1500), microseconds(2'000'000), 3, microseconds(2'003'500)};
  m.failed_wait = {microseconds(250'000), microseconds(250'000), 2, microseconds(500'000)};
  m.leases_held = 1;
  m.leases_lost[0] = 1;  // refused
  m.caller_extends = {4, 1};
  m.auto_extends = {7, 0};
  m.ownership_checks = {2, 1};
  return m;
}

node_health one_node() {
  node_health n;
  n.endpoint = "redis://10.0.0.1:6379";
  n.state = node_state::connected;
  n.requests = 120;
  n.failures = 2;
  n.reconnects = 1;
  n.owed_releases = 3;
  n.dropped_releases = 0;
  n.latency_p50 = microseconds(80);
  n.latency_p99 = microseconds(1200);
  n.quarantine_left = std::chrono::milliseconds(1500);
  return n;
}

TEST(PrometheusTextTest, RendersCountersAndHealthExactly) {
  const std::string expected = R"(# HELP redlock_acquires_total Acquires started.
# TYPE redlock_acquires_total counter
redlock_acquires_total 5
# HELP redlock_acquire_grants_total Acquires a majority granted.
# TYPE redlock_acquire_grants_total counter
redlock_acquire_grants_total 3
# HELP redlock_acquire_failures_total Acquires that failed, by the error code of their outcome.
# TYPE redlock_acquire_failures_total counter
redlock_acquire_failures_total{code="held_elsewhere"} 2
redlock_acquire_failures_total{code="no_quorum"} 0
redlock_acquire_failures_total{code="validity_spent"} 0
redlock_acquire_failures_total{code="misconfigured"} 0
redlock_acquire_failures_total{code="overloaded"} 0
redlock_acquire_failures_total{code="cancelled"} 0
redlock_acquire_failures_total{code="client_closed"} 0
redlock_acquire_failures_total{code="fence_exhausted"} 0
# HELP redlock_acquire_attempts_total Rounds sent by acquires, first attempts and retries; attempts per grant is rate(redlock_acquire_attempts_total) / rate(redlock_acquire_grants_total).
# TYPE redlock_acquire_attempts_total counter
redlock_acquire_attempts_total 9
# HELP redlock_acquire_wait_seconds Time from an acquire's call to its outcome; quantiles over the last 1024.
# TYPE redlock_acquire_wait_seconds summary
redlock_acquire_wait_seconds{outcome="granted",quantile="0.5"} 0.0015
redlock_acquire_wait_seconds{outcome="granted",quantile="0.99"} 2
redlock_acquire_wait_seconds_sum{outcome="granted"} 2.0035
redlock_acquire_wait_seconds_count{outcome="granted"} 3
redlock_acquire_wait_seconds{outcome="failed",quantile="0.5"} 0.25
redlock_acquire_wait_seconds{outcome="failed",quantile="0.99"} 0.25
redlock_acquire_wait_seconds_sum{outcome="failed"} 0.5
redlock_acquire_wait_seconds_count{outcome="failed"} 2
# HELP redlock_leases_held Leases granted and not yet released.
# TYPE redlock_leases_held gauge
redlock_leases_held 1
# HELP redlock_leases_lost_total Leases declared lost, by cause.
# TYPE redlock_leases_lost_total counter
redlock_leases_lost_total{cause="refused"} 1
redlock_leases_lost_total{cause="margin_reached"} 0
redlock_leases_lost_total{cause="max_hold_reached"} 0
redlock_leases_lost_total{cause="client_closed"} 0
# HELP redlock_extends_total Extend rounds of held leases, by who asked (caller or auto) and outcome.
# TYPE redlock_extends_total counter
redlock_extends_total{by="caller",outcome="succeeded"} 4
redlock_extends_total{by="caller",outcome="failed"} 1
redlock_extends_total{by="auto",outcome="succeeded"} 7
redlock_extends_total{by="auto",outcome="failed"} 0
# HELP redlock_ownership_checks_total Ownership checks, by outcome.
# TYPE redlock_ownership_checks_total counter
redlock_ownership_checks_total{outcome="succeeded"} 2
redlock_ownership_checks_total{outcome="failed"} 1
# HELP redlock_node_state 1 for the node's connection state (connected, connecting, down), 0 for the others.
# TYPE redlock_node_state gauge
redlock_node_state{endpoint="redis://10.0.0.1:6379",state="connected"} 1
redlock_node_state{endpoint="redis://10.0.0.1:6379",state="connecting"} 0
redlock_node_state{endpoint="redis://10.0.0.1:6379",state="down"} 0
# HELP redlock_node_latency_seconds Request latency (sent to answered) over the node's last 1024 answered requests.
# TYPE redlock_node_latency_seconds gauge
redlock_node_latency_seconds{endpoint="redis://10.0.0.1:6379",quantile="0.5"} 0.00008
redlock_node_latency_seconds{endpoint="redis://10.0.0.1:6379",quantile="0.99"} 0.0012
# HELP redlock_node_requests_total Requests sent to the node.
# TYPE redlock_node_requests_total counter
redlock_node_requests_total{endpoint="redis://10.0.0.1:6379"} 120
# HELP redlock_node_request_failures_total Requests sent to the node that got no reply (timeout, broken connection).
# TYPE redlock_node_request_failures_total counter
redlock_node_request_failures_total{endpoint="redis://10.0.0.1:6379"} 2
# HELP redlock_node_reconnects_total Successful connects to the node after the first.
# TYPE redlock_node_reconnects_total counter
redlock_node_reconnects_total{endpoint="redis://10.0.0.1:6379"} 1
# HELP redlock_node_owed_releases Releases the node may still need that could not be delivered yet.
# TYPE redlock_node_owed_releases gauge
redlock_node_owed_releases{endpoint="redis://10.0.0.1:6379"} 3
# HELP redlock_node_dropped_releases_total Owed releases given up (the per-node cap was full, or sending cannot help).
# TYPE redlock_node_dropped_releases_total counter
redlock_node_dropped_releases_total{endpoint="redis://10.0.0.1:6379"} 0
# HELP redlock_node_quarantine_seconds How much longer the node does not vote: its server (re)started recently.
# TYPE redlock_node_quarantine_seconds gauge
redlock_node_quarantine_seconds{endpoint="redis://10.0.0.1:6379"} 1.5
)";
  EXPECT_EQ(prometheus_text(small_metrics(), {one_node()}), expected);
}

TEST(PrometheusTextTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
  node_health odd = one_node();
  odd.endpoint = "unix:///tmp/a\\b\"c\nd.sock";
  odd.state = node_state::down;
  std::string text = prometheus_text(client_metrics{}, {odd});
  EXPECT_THAT(text, HasSubstr("redlock_node_state{endpoint=\"unix:///tmp/a\\\\b\\\"c\\nd.sock\","
                              "state=\"down\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("redlock_node_requests_total{endpoint=\"unix:///tmp/a\\\\b\\\"c\\nd"
                              ".sock\"} 120\n"));
  // No raw newline inside a sample line: every line is a comment or a whole sample.
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "the text ends with a newline";
    std::string line = text.substr(start, end - start);
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("redlock_", 0) == 0) << line;
    start = end + 1;
  }
}

TEST(PrometheusTextTest, NodesAreLabelledWithoutTheirPasswords) {
  // node_health::endpoint is the endpoint's display form, which node::name() holds.
  result<detail::endpoint> parsed = detail::parse_endpoint("redis://app:s3cret@10.0.0.1:6379/2");
  ASSERT_TRUE(parsed) << parsed.message();
  node_health n = one_node();
  n.endpoint = parsed->display();
  std::string text = prometheus_text(client_metrics{}, {n});
  EXPECT_THAT(text, Not(HasSubstr("s3cret")));
  EXPECT_THAT(text,
              HasSubstr("redlock_node_requests_total{endpoint=\"redis://app:***@10.0.0.1:6379/2\"} "
                        "120\n"));
}

TEST(PrometheusTextTest, EveryNodeAppearsInEachFamilyInTheGivenOrder) {
  node_health a = one_node();
  node_health b = one_node();
  b.endpoint = "redis://10.0.0.2:6379";
  b.requests = 7;
  std::string text = prometheus_text(client_metrics{}, {a, b});
  EXPECT_THAT(text,
              HasSubstr("redlock_node_requests_total{endpoint=\"redis://10.0.0.1:6379\"} 120\n"
                        "redlock_node_requests_total{endpoint=\"redis://10.0.0.2:6379\"} 7\n"));
  // An empty client: every family is still there, at zero.
  EXPECT_THAT(prometheus_text(client_metrics{}, {}), HasSubstr("redlock_acquires_total 0\n"));
}

}  // namespace
}  // namespace redlock::testing
