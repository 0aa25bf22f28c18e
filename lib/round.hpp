// round: one step (the same command to every node asked, each answer judged into a vote and
// an optional value) decided by a rule from quorum.hpp at the answer that makes the outcome
// certain. Acquire, extend, release, the clean-up after a lost acquire and owed releases are
// all rounds; a step may be followed by a second step on the nodes that granted the first.
//
// One server, one vote: a node the policy excludes (a duplicate of another endpoint's server,
// later a quarantined one) votes failed without being asked, unless the step goes to excluded
// nodes too (releases); and within a round, a second answer from a server that already voted
// (the same run_id through another endpoint) counts as failed with duplicate_server.
//
// Replica acknowledgement (round_env::ack_replicas): a node's grant of a step that writes
// (step::replicated) counts only after a WAIT (or WAITAOF) on the same node says that enough of
// its replicas have the write; fewer, or no answer to it, makes the vote fail. The listener
// still hears the script's own vote (granted: our key is there and gets its release), once the
// acknowledgement is known.
//
// Loop thread only. Listener calls never run inside run() or then().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "clock.hpp"
#include "node_link.hpp"
#include "quorum.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

// How one node's reply (not an error reply, not a transport failure) counts. Returns
// granted, refused, or failed for a reply the step does not expect (reported as
// unexpected_reply); may set `value` (e.g. a fencing number, or a ttl).
using judge_fn = vote (*)(const reply& r, std::optional<std::uint64_t>& value);

struct step {
  std::shared_ptr<const command> cmd;
  judge_fn judge = nullptr;
  // A write (a grant, an extend, a fence) whose grant needs the replicas' acknowledgement when
  // the client asks for it (round_env::ack_replicas).
  bool replicated = false;
  // A granted reply that must not count after all, told by the server that answered: returns
  // the reason (the vote fails as a server error), or empty. Null: every grant counts.
  std::string (*vet)(const reply& granted, const server_info* server) = nullptr;
};

// Why a node may not vote now; an empty `error` means it may.
struct exclusion {
  std::error_code error;
  std::string detail;
};

// A per-node code no retry fixes: config_refused, duplicate_server, unsafe_server.
bool is_permanent(std::error_code e);

// A failure no retry fixes: an is_permanent() code, or an error reply that refuses
// our credentials, permissions or db.
bool permanent_failure(const node_answer& answer);

// "2 of 5 nodes granted, 1 refused, 2 failed (redis://h:1: node is down: ...)" over the nodes
// asked: a round's summary, or that of one lock's share of a batched extend.
std::string summarize(const std::vector<node_report>& reports, const std::vector<bool>& asked);

// What every round of one engine shares.
struct round_env {
  std::vector<node_link*> nodes;
  // The votes that make a majority; 0: quorum_of(nodes.size()), the only safe value (other
  // values come only from test_knobs::quorum, for a negative control).
  std::size_t quorum = 0;
  std::size_t majority() const { return quorum != 0 ? quorum : quorum_of(nodes.size()); }
  const clock* time = nullptr;
  scheduler* timers = nullptr;
  // Asked for every node when a round starts.
  std::function<exclusion(std::size_t node)> excluded;
  // client_options::replica_ack: replicas that must acknowledge a replicated step's grant
  // (0: off), and the WAIT's timeout, less than node_timeout.
  int ack_replicas = 0;
  std::chrono::milliseconds ack_timeout{0};
  // Sees every answer of every round, late ones included.
  std::function<void(std::size_t node, const node_answer& answer)> observe;
};

class round : public std::enable_shared_from_this<round> {
 public:
  struct listener {
    // Every answer, also after the decision, with the vote it counted as.
    std::function<void(std::size_t node, const node_answer& answer, vote v)> answered;
    // Once, at the answer that made the outcome certain.
    std::function<void(const round& r)> decided;
    // Once, after every node asked has answered (after `decided`).
    std::function<void(const round& r)> complete;
  };
  struct spec {
    step what;
    rule how = rule::majority_granted;
    std::vector<bool> ask;      // the nodes to ask; empty: every node
    bool ask_excluded = false;  // releases reach excluded nodes too (their votes still fail)
    std::optional<steady::time_point> started;  // a second step keeps its round's start
    bool check_exclusions = true;  // a second step's nodes passed the first step's checks
    // How long each request may wait for room in its node's window (node_link::send).
    std::chrono::nanoseconds queue_budget{0};
  };

  // Starts a round. The majority needed is that of the whole fleet, however many are asked.
  static std::shared_ptr<round> run(round_env& env, spec s, listener l);
  // A second step to the nodes that granted `first`, with `first`'s start; each request may
  // wait `queue_budget` for room in its node's window.
  static std::shared_ptr<round> then(round_env& env, const round& first, step what, rule how,
                                     listener l, std::chrono::nanoseconds queue_budget = {});

  steady::time_point start() const { return start_; }
  decision outcome() const { return outcome_; }
  const vote_counter& votes() const { return votes_; }
  // One per node, in endpoint order; nodes not asked are unanswered.
  const std::vector<node_report>& reports() const { return reports_; }
  const std::vector<std::optional<std::uint64_t>>& values() const { return values_; }
  bool asked(std::size_t node) const { return asked_[node]; }
  const std::vector<bool>& asked_nodes() const { return asked_; }
  // Nodes whose vote was granted, for a second step.
  std::vector<bool> granted_nodes() const;
  redlock::tally tally(int attempts = 1) const;
  // "2 of 5 nodes granted, 1 refused, 2 failed (redis://h:1: node is down: ...)"
  std::string summary() const;

  round(round_env& env, spec s, listener l, std::size_t voters);

 private:
  void begin();
  void on_answer(std::size_t node, bool excluded_at_start, node_answer answer);
  bool needs_acknowledgement(bool excluded_at_start, const node_answer& answer) const;
  void ask_replicas(std::size_t node, node_answer answer);
  // Counts one node's answer; `replicas` is the acknowledgement's outcome when one was asked
  // for (an error: the vote fails; otherwise its detail goes to the report).
  void count(std::size_t node, bool excluded_at_start, const node_answer& answer,
             const exclusion& replicas);
  vote judge(std::size_t node, const node_answer& answer, bool& permanent);
  void decide();
  void finish_if_complete();

  round_env& env_;
  spec spec_;
  listener listener_;
  steady::time_point start_;
  vote_counter votes_;
  std::vector<node_report> reports_;
  std::vector<std::optional<std::uint64_t>> values_;
  std::vector<bool> asked_;
  std::vector<std::shared_ptr<const server_info>> voted_server_;  // who answered, per node
  std::size_t waiting_ = 0;                                       // answers still to come
  decision outcome_ = decision::pending;
  bool completed_ = false;
};

}  // namespace redlock::detail
