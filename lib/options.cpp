#include "options.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <unordered_map>

#include "clock.hpp"
#include "quoted.hpp"

namespace redlock::detail {
namespace {

result<void> bad(std::string_view option, const std::string& expected) {
  return {errc::invalid_option, "invalid option " + std::string(option) + ": " + expected};
}

// Every duration option is at most a year, so no deadline arithmetic can overflow.
result<void> in_range(std::string_view option, std::chrono::milliseconds value, bool zero_ok) {
  if (value.count() < (zero_ok ? 0 : 1)) {
    return bad(option, std::string(zero_ok ? "must be >= 0 ms" : "must be > 0 ms") + " (got " +
                           ms_text(value) + ")");
  }
  if (value > max_ttl) return bad(option, "must be at most one year (got " + ms_text(value) + ")");
  return {};
}

result<void> positive(std::string_view option, std::chrono::milliseconds value) {
  return in_range(option, value, false);
}

result<void> not_negative(std::string_view option, std::chrono::milliseconds value) {
  return in_range(option, value, true);
}

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

result<checked_options> check_client_options(client_options options) {
  auto fail = [](const result<void>& r) { return result<checked_options>(r); };
  if (options.endpoints.empty()) {
    return fail(bad("endpoints", "at least one endpoint is required"));
  }
  checked_options out;
  std::unordered_map<std::string, std::size_t> seen;  // identity -> index
  for (std::size_t i = 0; i < options.endpoints.size(); ++i) {
    result<endpoint> e = parse_endpoint(options.endpoints[i]);
    if (!e) return e.status();
    auto [it, fresh] = seen.emplace(e->identity(), i);
    if (!fresh) {
      return {errc::invalid_endpoint,
              "invalid endpoint '" + e->display() + "': names the same server as endpoint #" +
                  std::to_string(it->second + 1) + " '" + out.endpoints[it->second].display() +
                  "' (Redlock needs independent masters)"};
    }
    out.endpoints.push_back(std::move(*e));
  }
  for (auto r : {positive("node_timeout", options.node_timeout),
                 positive("connect_timeout", options.connect_timeout),
                 positive("reconnect_min", options.reconnect_min),
                 positive("reconnect_max", options.reconnect_max),
                 not_negative("retry_delay", options.retry_delay),
                 not_negative("retry_jitter", options.retry_jitter),
                 positive("quarantine.max_ttl", options.quarantine.max_ttl)}) {
    if (!r) return fail(r);
  }
  if (options.reconnect_max < options.reconnect_min) {
    return fail(bad("reconnect_max", "must be >= reconnect_min (" + ms_text(options.reconnect_min) +
                                         ") (got " + ms_text(options.reconnect_max) + ")"));
  }
  if (!options.sentinel_user.empty() && options.sentinel_password.empty()) {
    return fail(bad("sentinel_user", "needs sentinel_password (AUTH user password)"));
  }
  if (options.replica_ack.replicas < 0 || options.replica_ack.replicas > 1000) {
    return fail(
        bad("replica_ack.replicas",
            "must be in [0, 1000] (got " + std::to_string(options.replica_ack.replicas) + ")"));
  }
  if (options.replica_ack.replicas > 0) {
    result<void> r = not_negative("replica_ack.timeout", options.replica_ack.timeout);
    if (!r) return fail(r);
    if (options.replica_ack.timeout >= options.node_timeout) {
      return fail(bad("replica_ack.timeout", "must be less than node_timeout (" +
                                                 ms_text(options.node_timeout) +
                                                 "), so that the node answers within it (got " +
                                                 ms_text(options.replica_ack.timeout) + ")"));
    }
    if (options.replica_ack.timeout.count() == 0 && options.node_timeout.count() < 2) {
      return fail(
          bad("replica_ack.timeout", "half the node_timeout (" + ms_text(options.node_timeout) +
                                         ") is under 1 ms: give a node_timeout of 2 ms at least"));
    }
  }
  if (!(options.drift_factor >= 0.0 && options.drift_factor < 0.5)) {  // also rejects NaN
    return fail(
        bad("drift_factor", "must be in [0, 0.5) (got " + number(options.drift_factor) + ")"));
  }
  out.options = std::move(options);
  return out;
}

result<void> check_ttl(std::chrono::milliseconds ttl, const client_options& client) {
  if (auto r = positive("ttl", ttl); !r) return r;
  if (ttl <= client.node_timeout) {
    return bad("ttl", "must be larger than node_timeout (" + ms_text(client.node_timeout) +
                          ") (got " + ms_text(ttl) + ")");
  }
  if (client.quarantine.enabled && ttl > client.quarantine.max_ttl) {
    return bad("ttl", "must be at most quarantine.max_ttl (" + ms_text(client.quarantine.max_ttl) +
                          "), the longest ttl the quarantine of restarted servers covers (got " +
                          ms_text(ttl) + ")");
  }
  return {};
}

result<void> check_resources(const std::vector<std::string>& resources) {
  if (resources.size() == 1) {
    if (resources[0].empty()) return bad("resource", "must not be empty");
    return {};
  }
  if (resources.empty()) return bad("resources", "at least one resource is required");
  if (resources.size() > max_resources) {
    return bad("resources", "at most " + std::to_string(max_resources) + " in one lock (got " +
                                std::to_string(resources.size()) + ")");
  }
  std::unordered_map<std::string_view, std::size_t> seen;  // name -> index
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (resources[i].empty()) {
      return bad("resources", "resource #" + std::to_string(i + 1) + " is empty");
    }
    auto [it, fresh] = seen.emplace(resources[i], i);
    if (!fresh) {
      return bad("resources", "resource #" + std::to_string(i + 1) + " " + quoted(resources[i]) +
                                  " is the same as resource #" + std::to_string(it->second + 1));
    }
  }
  return {};
}

result<void> check_token(std::string_view token) {
  bool hex = token.size() == 32 && std::all_of(token.begin(), token.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (hex) return {};
  return bad("token", "must be 32 lowercase hex digits, as lease::token() gives (got " +
                          std::to_string(token.size()) + " characters)");
}

result<void> check_acquire(const std::vector<std::string>& resources,
                           const acquire_options& acquire, const client_options& client) {
  if (auto r = check_resources(resources); !r) return r;
  if (auto r = check_ttl(acquire.ttl, client); !r) return r;
  if (acquire.wait.count() < 0) {  // any larger wait is fine: "forever" saturates
    return bad("wait", "must be >= 0 ms (got " + ms_text(acquire.wait) + ")");
  }
  if (acquire.fencing && client.key_prefix.empty()) {
    return bad("key_prefix",
               "must not be empty for a fenced acquire (the numbers live in the "
               "hash at key_prefix)");
  }
  if (acquire.max_attempts < 1) {
    return bad("max_attempts", "must be >= 1 (got " + std::to_string(acquire.max_attempts) + ")");
  }
  if (!(acquire.lost_margin >= 0 && acquire.lost_margin <= 0.5)) {
    return bad("lost_margin", "must be in [0, 0.5] (got " + number(acquire.lost_margin) + ")");
  }
  if (acquire.lost_margin + client.drift_factor > 0.5) {
    return bad("lost_margin", "with drift_factor (" + number(client.drift_factor) +
                                  ") must leave at least half of the ttl (got " +
                                  number(acquire.lost_margin) + ")");
  }
  const auto_extend_options& a = acquire.auto_extend;
  if (auto r = not_negative("auto_extend.max_hold", a.max_hold); !r) return r;
  // Each extension must start before the lease is declared lost.
  double latest = 1 - acquire.lost_margin - client.drift_factor;
  if (a.enabled && !(a.extend_at > 0 && a.extend_at < latest)) {
    return bad("auto_extend.extend_at", "must be in (0, " + number(latest) +
                                            "), below 1 - lost_margin - drift_factor (got " +
                                            number(a.extend_at) + ")");
  }
  return {};
}

}  // namespace redlock::detail
