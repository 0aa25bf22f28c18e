// What the commands of the `redlock` tool share: exit statuses, the client made from the
// command line, JSON text and failure reports.
#pragma once

#include <chrono>
#include <future>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "args.hpp"
#include "redlock/client.hpp"
#include "redlock/result.hpp"

namespace redlock::cli {

// The status for a failed operation: busy, usage (invalid_option, invalid_endpoint), lost
// (lock_lost), else failure.
int status_for(std::error_code e);

// The client the flags (else the environment) describe. Throws usage_error for a bad flag,
// and for options or endpoints the library refuses (its message names them).
client make_client(const parsed_args& args, const env_lookup& env);

// "redlock acquire: no_quorum: ..." and one line per node that did not grant, on `err`.
void report_failure(std::ostream& err, std::string_view command, const result_base& failed);

// Whether the node may vote now, as far as its health says (connected, not quarantined, not
// a duplicate, no key-loss risk).
bool can_vote(const node_health& n);

// Watches an acquire that waits without limit (no -w, as flock(1) waits): once fewer than a
// majority of the nodes could vote for `after` on end (all down, refusing connections, a host
// that does not resolve, quarantined), prints ONE warning on `err` naming each node that cannot
// vote and why, as health() has it (passwords masked), and stays quiet after that; the wait
// goes on. A majority seen voting again starts the count anew. Does nothing for a bounded wait,
// which reports the nodes when it gives up.
class stalled_wait_warning {
 public:
  stalled_wait_warning(std::string command, std::string resource, bool unlimited,
                       std::chrono::milliseconds after = std::chrono::milliseconds(2000));
  // Call while the acquire waits, from another thread than the acquire's (the client is
  // thread-safe); it reads health() at most every 200 ms.
  void check(const client& locks, std::ostream& err);
  bool warned() const { return warned_; }

 private:
  using clock = std::chrono::steady_clock;
  std::string command_;
  std::string resource_;
  bool unlimited_;
  std::chrono::milliseconds after_;
  std::optional<clock::time_point> short_since_;  // fewer than a majority could vote since
  clock::time_point next_check_;
  bool warned_ = false;
};

// locks.acquire(resource, options) on a thread of its own, calling `warning.check` while it
// waits (redlock acquire; exec polls its own future, for signals).
result<lease> acquire_with_warning(client& locks, const std::string& resource,
                                   const acquire_options& options, stalled_wait_warning& warning,
                                   std::ostream& err);

// A JSON string literal.
std::string json_string(std::string_view s);

// The environment of this process.
env_lookup process_env();

}  // namespace redlock::cli
