// The checker of a torture run: reads the records of every client (history.hpp) and reports
// what breaks the lock's promises. Pure: no clock, no files, no processes. docs/torture.md
// states each rule and why; in short:
//
//   1. claims:  a granted acquire holds each of its resources from the grant's completion
//               until the earliest of: a release invoked with its token, its lost signal,
//               the valid_until of the last record that reported one (acquire ok, extend or
//               check ok or fail). Two claims of different tokens on one resource that
//               overlap for more than zero time are a violation.
//   2. unknown: a call without completion (the client was killed or paused mid-call) has an
//               unknown outcome, as Jepsen's :info operations. An acquire's may have held its
//               resources from its invocation until invocation + ttl: it proves nothing, is
//               counted and listed, and excuses liveness gaps in that window. An extend's may
//               have made its own claim longer (claim::possible_end), never another's.
//   3. fences:  per resource, fenced grants in grant order carry strictly increasing fences.
//   4. effects: unfenced: two accepted writes that read the same counter value (a lost
//               update); fenced: an accepted write whose fence is below one the store had
//               already accepted from another token.
//   5. liveness: calls within their budget; no long uncovered gap while a healthy majority
//               existed and someone wanted the resource.
//   6. pauses:  a holder paused past its validity does not act afterwards on the resource,
//               unless it was told its lease was lost first or its fence is below the next
//               holder's.
//
//   std::vector<record> all;  // every client's history::records
//   check_options o;
//   o.effects = effect_mode::fenced;
//   o.pauses = driver_pauses;
//   report r = check(all, o);
//   std::puts(r.summary().c_str());              // "grants 120, unknown 3, violations 0, ..."
//   write_file("report.json", r.to_json("\"seed\":42,\"faults\":[...]"));
//   return r.violations() == 0 && r.liveness_failures() == 0 ? 0 : 1;
//
// Every finding has describe(): one line (names and tokens JSON-quoted, so a token with a
// newline stays on the line).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "history.hpp"

namespace redlock::torture {

// [from, to): a span of time on the histories' clock.
struct interval {
  time_point from;
  time_point to;
};

// ---- The model: the histories, matched up -----------------------------------------------

// One call: its invocation and, when it came, its completion.
struct call_record {
  std::string client;
  time_point invoked;
  invocation what;
  std::optional<time_point> completed;  // nullopt: outcome unknown
  bool succeeded = false;               // completed with phase ok
  std::string error;                    // completed with phase fail: its error
};

// What ended a claim.
enum class claim_end { valid_until, release, lost };
// "valid_until", "release", "lost".
const char* to_string(claim_end e) noexcept;

// One granted acquire's hold on one of its resources (rule 1).
struct claim {
  std::string resource;
  std::string token;
  std::string client;
  std::uint64_t call = 0;  // the acquire's call id
  time_point start;        // the grant's completion
  time_point end;          // the earliest of the three ends (never before start)
  claim_end ended_by = claim_end::valid_until;
  // end, or later when an extend of this token invoked before `end` has no completion: then
  // max(end, its invocation + its ttl). Not used to find overlaps (the library never
  // reported that validity); used as coverage for liveness.
  time_point possible_end;
  std::optional<std::uint64_t> fence;
};

// A call without completion (rule 2).
struct unknown_call {
  std::string client;
  std::uint64_t call = 0;
  torture::op op = op::acquire;
  std::vector<std::string> resources;  // acquire: its resources; others: the lease's
  std::string token;                   // extend, release, check
  time_point invoked;
  // acquire, extend: invoked + ttl, the latest its effect could last; release, check: invoked.
  time_point window_end;
  std::string describe() const;
};

// One effect record, with its client.
struct effect_record {
  std::string client;
  time_point t;
  effect what;
};

// One lost signal, with its client.
struct lost_record {
  std::string client;
  time_point t;
  lost_signal what;
};

// The histories matched up: calls with their completions, claims, unknown calls, effects.
struct history_model {
  std::vector<call_record> calls;  // in invocation order
  std::vector<claim> claims;       // by resource, then start
  std::vector<unknown_call> unknown;
  std::vector<effect_record> effects;  // in time order
  std::vector<lost_record> lost;       // in time order
  std::size_t grants = 0;              // acquires completed ok (not counted per resource)
  // Records that make no sense together (a completion without invocation, a call id used
  // twice, an acquire ok without token or valid_until, ...): a bug in the driver. Each names
  // the client and call. Such records are left out of the claims and effects (a call stays a
  // call, for its budget and its unknown outcome).
  std::vector<std::string> errors;
};

// Matches the records (any order; ties in t keep the order given) into a model.
history_model build_model(const std::vector<record>& records);

// ---- Findings -------------------------------------------------------------------------------

// Rule 1: two claims of different tokens on one resource that overlap.
struct overlap {
  std::string resource;
  claim first;   // the one that started first
  claim second;  // the other
  time_point from;
  time_point to;
  double overlap_ms = 0;
  std::string describe() const;
};

// Rule 3: consecutive fenced grants of a resource whose fences do not increase.
struct fence_inversion {
  std::string resource;
  claim earlier;  // granted first
  claim later;    // granted next; its fence is not greater
  std::string describe() const;
};

// Rule 4, unfenced: two accepted writes that read the same value; the later one is listed
// against the first that read it (k writes that read one value: k - 1 entries).
struct lost_update {
  std::string resource;
  effect_record first;
  effect_record second;
  std::string describe() const;
};

// Rule 4, fenced: an accepted write whose fence is below a fence the store had accepted
// before it was sent (or equal to it, from another token).
struct stale_write {
  std::string resource;
  effect_record newer;  // the accepted write with the larger fence, already applied
  effect_record stale;  // the write accepted after it
  std::string describe() const;
};

// Rule 5a: a call that took longer than its budget.
struct budget_overrun {
  std::string client;
  std::uint64_t call = 0;
  torture::op op = op::acquire;
  double took_ms = 0;
  double budget_ms = 0;
  std::string describe() const;
};

// Rule 5b: a span with a healthy majority, an acquire in flight for the resource, and neither
// a claim nor an unknown acquire covering it, longer than the bound.
struct liveness_gap {
  std::string resource;
  time_point from;
  time_point to;
  double gap_ms = 0;
  std::string describe() const;
};

// Rule 6: a holder that resumed after its validity ran out and acted on the resource.
struct unsafe_resume {
  claim held;                        // the claim whose validity ran out during the pause
  interval pause;                    // the pause
  effect_record action;              // its effect after resuming
  std::optional<claim> next_holder;  // the next other claim of the resource before the action
  std::string describe() const;
};

// Rule 5c: a lock key still on a node at the end of a run, after every client stopped and the
// longest ttl passed (the driver looks and fills report::leftover_keys).
struct leftover_key {
  std::string node;  // the node, as the driver names it (e.g. its URL)
  std::string key;
  std::string describe() const;
};

// ---- The rules, one function each ---------------------------------------------------------

// Rule 1. Every overlapping pair, once; zero-length overlaps do not count.
std::vector<overlap> find_overlaps(const std::vector<claim>& claims);

// Rule 3. Per resource, the fenced claims ordered by start (ties: by fence), consecutive pairs
// whose fence does not strictly increase.
std::vector<fence_inversion> find_fence_inversions(const std::vector<claim>& claims);

// Rule 4, unfenced run: accepted effects on one resource that read the same value.
std::vector<lost_update> find_lost_updates(const std::vector<effect_record>& effects);

// Rule 4, fenced run: accepted effect X is stale when an accepted effect Y on the same
// resource, recorded (Y.t) before X's write was sent (X.sent, or X.t without it), has a larger
// fence, or the same fence and another token. Each stale write is listed once, against the
// largest fence accepted before it. An accepted effect without fence is a model error.
std::vector<stale_write> find_stale_writes(const std::vector<effect_record>& effects,
                                           std::vector<std::string>* errors = nullptr);

// A client that was stopped (SIGSTOP) during [span.from, span.to), as the driver recorded it.
struct pause {
  std::string client;
  interval span;
};

// The budgets of rule 5a.
struct budgets {
  // An acquire must complete within wait + ttl + acquire_slack.
  std::chrono::nanoseconds acquire_slack{std::chrono::milliseconds(100)};
  // An extend, release or check must complete within this; nullopt: not checked.
  std::optional<std::chrono::nanoseconds> other_calls;
};

// Rule 5a. Calls without completion are not checked (they are unknown). The time the call's
// client spent stopped (`pauses`, by the driver) is not counted against its budget: took_ms is
// the time it ran.
std::vector<budget_overrun> find_budget_overruns(const history_model& model, const budgets& b,
                                                 const std::vector<pause>& pauses = {});

// Rule 5b. For each resource R:
//   covered(R) = union of [claim.start, claim.possible_end] of R's claims and
//                [invoked, window_end] of R's unknown acquires;
//   wanted(R)  = union over completed acquires A that name R of [A.invoked, A.completed],
//                minus the times some other resource of A was covered (A waited for that);
//   gaps(R)    = (wanted(R) ∩ healthy) minus covered(R).
// Reports each gap longer than `bound` (e.g. ttl + retry delay + jitter: a released or
// expired holder's keys may outlive its claim by up to the ttl).
std::vector<liveness_gap> find_liveness_gaps(const history_model& model,
                                             const std::vector<interval>& healthy,
                                             std::chrono::nanoseconds bound);

// Rule 6. For each pause P of client C and claim K of C with P.from < K.end < P.to (its
// validity ran out while it was stopped, before it was released or declared lost): each
// effect of C on K's resource with K's token at or after P.to is unsafe unless, by the
// effect's t,
//   - C had been told the lease was lost: a lost signal with K's token, or a failed extend
//     or check of K's token with error "lock_lost"; or
//   - no other token had claimed the resource since K.start (nobody to conflict with); or
//   - the next other claim of the resource has a fence and K's fence is smaller (the store
//     refuses K's write once the next holder wrote).
// What this does not check: effects by a paused holder whose validity ran out *after* it
// resumed (that is rule 1's business), and whether the store really refused the write (that
// is rule 4's).
std::vector<unsafe_resume> find_unsafe_resumes(const history_model& model,
                                               const std::vector<pause>& pauses);

// ---- The whole check --------------------------------------------------------------------------

enum class effect_mode {
  unfenced,  // the store accepts every write: look for lost updates
  fenced,    // the store refuses stale fences: look for stale writes it accepted
};

struct check_options {
  effect_mode effects = effect_mode::unfenced;
  torture::budgets budgets;
  // Rule 5b runs when `healthy` is not empty: when a majority of the nodes was up, reachable
  // and not paused, from the driver's fault schedule; gaps longer than max_gap are reported.
  std::vector<interval> healthy;
  std::chrono::nanoseconds max_gap{0};
  // Rule 6: the driver's pauses of client processes.
  std::vector<pause> pauses;
};

struct report {
  history_model model;
  std::vector<overlap> overlaps;
  std::vector<fence_inversion> fence_inversions;
  std::vector<lost_update> lost_updates;
  std::vector<stale_write> stale_writes;
  std::vector<unsafe_resume> unsafe_resumes;
  std::vector<budget_overrun> budget_overruns;
  std::vector<liveness_gap> liveness_gaps;
  std::vector<leftover_key> leftover_keys;  // filled by the driver, not by check()

  std::size_t grants() const noexcept { return model.grants; }
  std::size_t unknown() const noexcept { return model.unknown.size(); }
  // overlaps + fence inversions + lost updates + stale writes + unsafe resumes.
  std::size_t violations() const noexcept;
  // budget overruns + liveness gaps + leftover keys.
  std::size_t liveness_failures() const noexcept;
  std::size_t history_errors() const noexcept { return model.errors.size(); }

  // Every violation, liveness failure and history error, one line each.
  std::vector<std::string> descriptions() const;
  // "grants 120, unknown 3, violations 0, liveness failures 0" (", history errors N" when
  // there are any).
  std::string summary() const;
  // One JSON object: the counts (grants, unknown, violations, liveness_failures,
  // history_errors), the summary, then each list with its details and descriptions.
  // `extra_members` is put first, as it is: JSON members without braces, such as
  // "\"seed\":42,\"faults\":[...]" (empty: none).
  std::string to_json(std::string_view extra_members = {}) const;
};

// Builds the model and runs every rule that `options` enables (1-4 and 5a always, 5b when
// healthy intervals are given, 6 for the pauses given).
report check(const std::vector<record>& records, const check_options& options);

}  // namespace redlock::torture
