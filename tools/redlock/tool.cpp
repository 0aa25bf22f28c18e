#include "tool.hpp"

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <utility>

#include "redlock/error.hpp"

namespace redlock::cli {

int status_for(std::error_code e) {
  if (e == errc::held_elsewhere) return exit_status::busy;
  if (e == errc::invalid_option || e == errc::invalid_endpoint) return exit_status::usage;
  if (e == errc::lock_lost) return exit_status::lost;
  return exit_status::failure;
}

client make_client(const parsed_args& args, const env_lookup& env) {
  result<client> made = client::create(client_options_from(args, env));
  if (!made) throw usage_error(made.message());
  return std::move(*made);
}

void report_failure(std::ostream& err, std::string_view command, const result_base& failed) {
  err << "redlock " << command << ": " << failed.message() << '\n';
}

bool can_vote(const node_health& n) {
  return n.state == node_state::connected && n.quarantine_left.count() == 0 &&
         n.duplicate_of.empty() && n.key_loss_risks.empty();
}

namespace {

// Why a node cannot vote, in a few words.
std::string why_not_voting(const node_health& n) {
  if (n.state != node_state::connected) {
    std::string why = n.state == node_state::down ? "down" : "connecting";
    return why + (n.last_error.empty() ? std::string(": no connection yet") : ": " + n.last_error);
  }
  if (n.quarantine_left.count() > 0)
    return "quarantined for " + duration_text(n.quarantine_left) + ": " + n.quarantine_reason;
  if (!n.duplicate_of.empty()) return "same server as " + n.duplicate_of;
  if (!n.key_loss_risks.empty()) return "risk: " + n.key_loss_risks.front();
  return "does not vote";
}

}  // namespace

stalled_wait_warning::stalled_wait_warning(std::string command, std::string resource,
                                           bool unlimited, std::chrono::milliseconds after)
    : command_(std::move(command)),
      resource_(std::move(resource)),
      unlimited_(unlimited),
      after_(after),
      short_since_(clock::now()),  // the connections are still being made: counted too
      next_check_(clock::now()) {}

void stalled_wait_warning::check(const client& locks, std::ostream& err) {
  if (!unlimited_ || warned_) return;
  const clock::time_point now = clock::now();
  if (now < next_check_) return;
  next_check_ = now + std::chrono::milliseconds(200);
  result<std::vector<node_health>> nodes = locks.health();
  if (!nodes) return;
  std::size_t voting = 0;
  for (const node_health& n : *nodes)
    voting += can_vote(n) ? 1u : 0u;
  const std::size_t quorum = nodes->size() / 2 + 1;
  if (voting >= quorum) {
    short_since_.reset();
    return;
  }
  if (!short_since_) short_since_ = now;
  if (now - *short_since_ < after_) return;
  warned_ = true;
  err << "redlock " << command_ << ": still waiting for " << resource_
      << " (no --wait: without limit), but only " << voting << " of " << nodes->size()
      << " nodes can vote and " << quorum << " are needed:\n";
  for (const node_health& n : *nodes) {
    if (!can_vote(n)) err << "  " << n.endpoint << "  " << why_not_voting(n) << '\n';
  }
  err.flush();
}

result<lease> acquire_with_warning(client& locks, const std::string& resource,
                                   const acquire_options& options, stalled_wait_warning& warning,
                                   std::ostream& err) {
  auto acquiring = std::async(std::launch::async, [&] { return locks.acquire(resource, options); });
  while (acquiring.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    warning.check(locks, err);
  return acquiring.get();
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace redlock::cli
