#include "quarantine.hpp"

#include <utility>

namespace redlock::detail {

namespace {
std::string short_id(const std::string& run_id) {
  return run_id.size() > 8 ? run_id.substr(0, 8) + "..." : run_id;
}
}  // namespace

quarantine quarantine_after_handshake(const server_info& server, const std::string& previous_run_id,
                                      steady::time_point seen_at, steady::duration period,
                                      quarantine earlier, bool promotion_kept_keys) {
  quarantine q;
  q.until = seen_at - server.uptime + period;
  q.reason = "the server had been up " + std::to_string(server.uptime.count()) +
             " s (uptime_in_seconds) at the handshake";
  if (!previous_run_id.empty() && server.run_id != previous_run_id && !promotion_kept_keys &&
      seen_at + period > q.until) {
    q.until = seen_at + period;
    q.reason = "the endpoint reached a new server (run_id " + short_id(server.run_id) + ", was " +
               short_id(previous_run_id) + ")";
  }
  if (earlier.until > q.until) return earlier;
  return q;
}

}  // namespace redlock::detail
