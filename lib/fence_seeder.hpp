// fence_seeder: gives a node whose fence hash has lost its seeded mark (a new server, or one
// that restarted without its data) every fencing number the fleet handed out, before its
// fenced acquires count again (docs/safety.md, "A node that restarts without persistence").
//
// acquire_fenced.lua answers UNSEEDED on such a node and sets nothing there; a grant whose mark
// names another server (fence_mark()) counts as UNSEEDED too. The seeder then
// reads the fence hash (HSCAN, page by page) from the other nodes that may vote, takes the
// largest number per resource, and writes those into the node with fence_seed.lua, which also
// sets the mark, and only on the server that answered UNSEEDED (same run_id). It needs
// `sources_needed(N)` other nodes read to the end: enough that every write-back majority of
// an earlier fenced grant keeps a node among them (N - quorum + 1), so one node that lost its
// data is always given back everything. Fewer answers, and the node stays unseeded.
//
// Loop thread only. Callbacks never run inside a call into the seeder.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "round.hpp"

namespace redlock::detail {

// A fence as the scripts store it: decimal digits, no leading zero, at most 2^64-1.
std::optional<std::uint64_t> parse_fence(std::string_view text);

// Whether an error reply is acquire_fenced.lua's UNSEEDED (or unseeded_grant()'s text).
bool is_unseeded(std::string_view error_reply);

// The seeded mark's value: the server the seeding was for (run_id) and its history as a master
// (master_replid). A restart, a promotion of a replica that got the mark from its old master,
// or a resync followed by a promotion each change it.
std::string fence_mark(const server_info& server);

// A fenced grant (acquire_fenced.lua's {fence, mark}) from a Sentinel group's master whose mark
// names another server: a replica promoted with its old master's mark, which may lack numbers
// the old master acknowledged. Returns the UNSEEDED text the vote fails with, or empty. Other
// servers count with any mark: a restart keeps all the numbers or loses the mark with them,
// unless its persistence loses writes (docs/safety.md), and a seeding after every restart would
// cost fenced acquires, with N = 3, every node up.
std::string unseeded_grant(const reply& grant, const server_info* server);

// Other nodes a seeding must read: N - quorum + 1, at most N - 1 (one node has no others).
std::size_t sources_needed(std::size_t nodes);

class fence_seeder {
 public:
  struct hooks {
    // Around each seeding: background work, which closing waits for.
    std::function<void()> begin;
    std::function<void()> end;
    // After each seeding, whether it succeeded or not.
    std::function<void(std::size_t node)> finished;
  };
  // `hash`: the fence hash's key. A failed seeding of a node is not tried again for
  // `retry_after`, whatever UNSEEDED answers come meanwhile.
  fence_seeder(round_env& env, std::string hash, std::chrono::nanoseconds retry_after, hooks h);

  // `node` answered UNSEEDED from `server`: seeds it, unless a seeding of it is running, or
  // failed less than retry_after ago, or the server is unknown, or the node may not vote now
  // (quarantined: it is seeded after its quarantine, docs/safety.md).
  void unseeded(std::size_t node, const std::shared_ptr<const server_info>& server);
  bool seeding(std::size_t node) const { return static_cast<bool>(running_[node]); }
  // Why the last seeding of `node` failed; empty when it succeeded or never ran.
  const std::string& last_failure(std::size_t node) const { return failures_[node]; }

 private:
  struct job;
  void scan(const std::shared_ptr<job>& s, std::size_t source, std::string cursor);
  void source_done(const std::shared_ptr<job>& s, const std::string& failure);
  void write(const std::shared_ptr<job>& s);
  void finish(const std::shared_ptr<job>& s, std::string failure);

  round_env& env_;
  std::string hash_;
  std::chrono::nanoseconds retry_after_;
  hooks hooks_;
  std::vector<std::shared_ptr<job>> running_;  // per node
  std::vector<std::string> failures_;
  std::vector<std::optional<steady::time_point>> failed_at_;
};

}  // namespace redlock::detail
