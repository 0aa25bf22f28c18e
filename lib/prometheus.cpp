#include "redlock/prometheus.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

namespace redlock {
namespace {

using label = std::pair<std::string_view, std::string_view>;

// Label values escape backslash, double quote and newline; HELP text escapes backslash and
// newline (the text format 0.0.4).
std::string escaped(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Seconds with microsecond resolution and no trailing zeros: "0.0015", "2", "0".
std::string seconds_text(std::chrono::microseconds d) {
  auto us = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
  std::string out = std::to_string(us / 1000000);
  std::string fraction = std::to_string(us % 1000000);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0')
    fraction.pop_back();
  if (!fraction.empty()) out += "." + fraction;
  return out;
}

const char* state_name(node_state s) {
  switch (s) {
    case node_state::connected:
      return "connected";
    case node_state::connecting:
      return "connecting";
    case node_state::down:
      return "down";
  }
  return "unknown";
}

constexpr node_state every_state[] = {node_state::connected, node_state::connecting,
                                      node_state::down};

class exposition {
 public:
  // Starts a metric family: its HELP and TYPE lines. Its samples must follow at once.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_.append("# HELP ").append(name).append(" ").append(escaped(help, false)).append("\n");
    text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::initializer_list<label> labels, std::string_view value) {
    text_.append(name);
    if (labels.size() > 0) {
      text_ += '{';
      bool first = true;
      for (const label& l : labels) {
        if (!first) text_ += ',';
        first = false;
        text_.append(l.first).append("=\"").append(escaped(l.second, true)).append("\"");
      }
      text_ += '}';
    }
    text_.append(" ").append(value).append("\n");
  }
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  // A family with one sample per node, labelled with its endpoint.
  template <class Value>
  void per_node(std::string_view name, std::string_view type, std::string_view help,
                const std::vector<node_health>& nodes, Value value_of) {
    family(name, type, help);
    for (const node_health& n : nodes)
      sample(name, {{"endpoint", n.endpoint}}, value_of(n));
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

void wait_summary(exposition& out, std::string_view outcome, const duration_summary& d) {
  out.sample("redlock_acquire_wait_seconds", {{"outcome", outcome}, {"quantile", "0.5"}},
             seconds_text(d.p50));
  out.sample("redlock_acquire_wait_seconds", {{"outcome", outcome}, {"quantile", "0.99"}},
             seconds_text(d.p99));
  out.sample("redlock_acquire_wait_seconds_sum", {{"outcome", outcome}}, seconds_text(d.sum));
  out.sample("redlock_acquire_wait_seconds_count", {{"outcome", outcome}}, d.count);
}

// Two samples, succeeded and failed, after the label `by` when there is one.
void outcomes(exposition& out, std::string_view name, std::optional<label> by,
              const outcome_counts& c) {
  if (by) {
    out.sample(name, {*by, {"outcome", "succeeded"}}, c.succeeded);
    out.sample(name, {*by, {"outcome", "failed"}}, c.failed);
  } else {
    out.sample(name, {{"outcome", "succeeded"}}, c.succeeded);
    out.sample(name, {{"outcome", "failed"}}, c.failed);
  }
}

}  // namespace

std::string prometheus_text(const client_metrics& m, const std::vector<node_health>& nodes) {
  exposition out;

  out.family("redlock_acquires_total", "counter", "Acquires started.");
  out.sample("redlock_acquires_total", {}, m.acquires);
  out.family("redlock_acquire_grants_total", "counter", "Acquires a majority granted.");
  out.sample("redlock_acquire_grants_total", {}, m.granted);
  out.family("redlock_acquire_failures_total", "counter",
             "Acquires that failed, by the error code of their outcome.");
  for (std::size_t i = 0; i < acquire_failure_codes.size(); ++i) {
    out.sample("redlock_acquire_failures_total", {{"code", to_string(acquire_failure_codes[i])}},
               m.acquires_failed[i]);
  }
  out.family("redlock_acquire_attempts_total", "counter",
             "Rounds sent by acquires, first attempts and retries; attempts per grant is "
             "rate(redlock_acquire_attempts_total) / rate(redlock_acquire_grants_total).");
  out.sample("redlock_acquire_attempts_total", {}, m.attempts);
  out.family("redlock_acquire_wait_seconds", "summary",
             "Time from an acquire's call to its outcome; quantiles over the last 1024.");
  wait_summary(out, "granted", m.granted_wait);
  wait_summary(out, "failed", m.failed_wait);

  out.family("redlock_leases_held", "gauge", "Leases granted and not yet released.");
  out.sample("redlock_leases_held", {}, m.leases_held);
  out.family("redlock_leases_lost_total", "counter", "Leases declared lost, by cause.");
  for (std::size_t i = 0; i < lease_lost_causes.size(); ++i) {
    out.sample("redlock_leases_lost_total", {{"cause", to_string(lease_lost_causes[i])}},
               m.leases_lost[i]);
  }
  out.family("redlock_extends_total", "counter",
             "Extend rounds of held leases, by who asked (caller or auto) and outcome.");
  outcomes(out, "redlock_extends_total", label{"by", "caller"}, m.caller_extends);
  outcomes(out, "redlock_extends_total", label{"by", "auto"}, m.auto_extends);
  out.family("redlock_ownership_checks_total", "counter", "Ownership checks, by outcome.");
  outcomes(out, "redlock_ownership_checks_total", std::nullopt, m.ownership_checks);

  out.family("redlock_node_state", "gauge",
             "1 for the node's connection state (connected, connecting, down), 0 for the others.");
  for (const node_health& n : nodes) {
    for (node_state s : every_state) {
      out.sample("redlock_node_state", {{"endpoint", n.endpoint}, {"state", state_name(s)}},
                 n.state == s ? "1" : "0");
    }
  }
  out.family("redlock_node_latency_seconds", "gauge",
             "Request latency (sent to answered) over the node's last 1024 answered requests.");
  for (const node_health& n : nodes) {
    out.sample("redlock_node_latency_seconds", {{"endpoint", n.endpoint}, {"quantile", "0.5"}},
               seconds_text(n.latency_p50));
    out.sample("redlock_node_latency_seconds", {{"endpoint", n.endpoint}, {"quantile", "0.99"}},
               seconds_text(n.latency_p99));
  }
  out.per_node("redlock_node_requests_total", "counter", "Requests sent to the node.", nodes,
               [](const node_health& n) { return n.requests; });
  out.per_node("redlock_node_request_failures_total", "counter",
               "Requests sent to the node that got no reply (timeout, broken connection).", nodes,
               [](const node_health& n) { return n.failures; });
  out.per_node("redlock_node_reconnects_total", "counter",
               "Successful connects to the node after the first.", nodes,
               [](const node_health& n) { return n.reconnects; });
  out.per_node("redlock_node_owed_releases", "gauge",
               "Releases the node may still need that could not be delivered yet.", nodes,
               [](const node_health& n) { return n.owed_releases; });
  out.per_node("redlock_node_dropped_releases_total", "counter",
               "Owed releases given up (the per-node cap was full, or sending cannot help).", nodes,
               [](const node_health& n) { return n.dropped_releases; });
  out.per_node("redlock_node_quarantine_seconds", "gauge",
               "How much longer the node does not vote: its server (re)started recently.", nodes,
               [](const node_health& n) { return seconds_text(n.quarantine_left); });
  return out.take();
}

}  // namespace redlock
