#include "engine.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <utility>

#include "options.hpp"
#include "quorum.hpp"
#include "quoted.hpp"
#include "scripts.hpp"
#include "test_knobs.hpp"
#include "token.hpp"

namespace redlock::detail {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

engine_config engine_config::from(const client_options& options) {
  engine_config c{options.drift_factor, options.retry_delay, options.retry_jitter,
                  options.key_prefix, options.risky_nodes_vote};
  c.ack_replicas = options.replica_ack.replicas;
  c.ack_timeout = options.replica_ack.timeout.count() > 0 ? options.replica_ack.timeout
                                                          : options.node_timeout / 2;
  c.quorum = test_knobs::quorum.load();
  return c;
}

struct engine::acquire_op {
  std::uint64_t id = 0;
  bool cancelled = false;  // its outcome was given already; a round still out is cleaned up
  std::vector<std::string> resources;
  std::vector<std::string> keys;  // keys[i] is the Redis key of resources[i]
  acquire_options options;
  steady::time_point started;   // the call
  steady::time_point deadline;  // first attempt + wait
  int attempts = 0;
  acquire_callback done;
  tally last_tally;  // of the last finished round, for a shutdown while waiting
  // Waiting by notification (key_watch).
  bool watched = false;
  std::vector<bool> covered;         // per key: its releases reach us
  bool heard_release = false;        // while the current attempt was out
  bool woken = false;                // its next attempt is a notification's, not the retry delay's
  std::size_t listening = 1;         // clients listening for the key, as the last release said
  std::string teller;                // who its acquire.lua says took the lock ("taken <teller>")
  bool refused = false;              // its last attempt was refused (held_elsewhere)
  int splits = 0;                    // split votes since the last release heard (split_vote)
  bool backing_off = false;          // its next attempt is a split vote's (on_acquire_complete)
  bool waited_for_seeding = false;   // once per acquire (wait_for_seeding)
  bool waiting_for_seeding = false;  // its next attempt is the one after the seeding
  scheduler::timer_id next_attempt = 0;  // while waiting for it
  steady::time_point next_attempt_at;
  steady::time_point fallback_at;  // the retry-delay attempt a wake replaced
  // Set while it listens out the rest of its budget with no retry left (finish_attempt): the
  // outcome it ends with then, unless a release wakes it first.
  std::optional<std::pair<errc, std::string>> give_up;
};

struct engine::ready_wait {
  steady::time_point deadline;
  done_callback done;
  scheduler::timer_id timer = 0;
  scheduler::timer_id quarantine_end = 0;  // a check when the first quarantine ends
};

namespace {

// EVALSHA of `s` with KEYS = `keys` (then `last_key`, unless empty) and ARGV = `argv` (then
// `more_argv`).
std::shared_ptr<const command> script_call(const script& s, const std::vector<std::string>& keys,
                                           std::initializer_list<std::string_view> argv,
                                           std::string_view last_key = {},
                                           const std::vector<std::string>& more_argv = {}) {
  std::string key_count = std::to_string(keys.size() + (last_key.empty() ? 0 : 1));
  std::vector<std::string_view> args{"EVALSHA", s.sha1, key_count};
  args.reserve(3 + keys.size() + 1 + argv.size() + more_argv.size());
  args.insert(args.end(), keys.begin(), keys.end());
  if (!last_key.empty()) args.push_back(last_key);
  args.insert(args.end(), argv.begin(), argv.end());
  args.insert(args.end(), more_argv.begin(), more_argv.end());
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command(args);
  cmd->script_source = s.source;
  return cmd;
}

// SET ... NX: OK = granted, nil = another owner's key is there.
vote judge_set(const reply& r, std::optional<std::uint64_t>&) {
  if (r.is_status("OK")) return vote::granted;
  if (r.kind == reply::type::nil) return vote::refused;
  return vote::failed;
}

// The ownership check: the key's PTTL while it is ours (-1: no expiry), -2 when it is not.
vote judge_check(const reply& r, std::optional<std::uint64_t>& ttl_ms) {
  if (r.kind != reply::type::integer || r.integer < -2) return vote::failed;
  if (r.integer == -2) return vote::refused;
  ttl_ms = static_cast<std::uint64_t>(r.integer == -1 ? std::numeric_limits<long long>::max()
                                                      : r.integer);
  return vote::granted;
}

// acquire.lua and acquire_fenced.lua refuse with {-i, token} when KEYS[i] is another owner's
// (token '' for a key of another type). The vote's value keeps both: i, the resource's place in
// the lock (1-based, at most max_resources), in its low bits, and above them a fingerprint of
// the owner's token (0: unknown), which tells a split vote from a lock one owner holds.
constexpr int refusal_index_bits = 10;
static_assert(max_resources < (std::size_t{1} << refusal_index_bits));

std::size_t refused_index(std::uint64_t value) {
  return static_cast<std::size_t>(value & ((std::uint64_t{1} << refusal_index_bits) - 1));
}
std::uint64_t refused_owner(std::uint64_t value) {
  return value >> refusal_index_bits;
}

// FNV-1a, shifted to leave room for the index; never 0 (that is "unknown").
std::uint64_t owner_fingerprint(std::string_view token) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : token) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h >>= refusal_index_bits;
  return h == 0 ? 1 : h;
}

vote judge_held(const reply& r, std::optional<std::uint64_t>& held) {
  if (r.kind != reply::type::array || r.elements.size() != 2) return vote::failed;
  const reply& index = r.elements[0];
  const reply& owner = r.elements[1];
  if (index.kind != reply::type::integer || index.integer >= 0 ||
      index.integer < -static_cast<long long>(max_resources) || owner.kind != reply::type::string)
    return vote::failed;
  std::uint64_t fingerprint = owner.text.empty() ? 0 : owner_fingerprint(owner.text);
  held = fingerprint << refusal_index_bits | static_cast<std::uint64_t>(-index.integer);
  return vote::refused;
}

// acquire.lua: 1 = every key set.
vote judge_acquire(const reply& r, std::optional<std::uint64_t>& value) {
  if (r.kind == reply::type::integer && r.integer == 1) return vote::granted;
  return judge_held(r, value);
}

// acquire_fenced.lua: {the largest stored fence among the resources, the seeded mark} =
// granted (the mark is vetted by unseeded_grant()).
vote judge_fenced_acquire(const reply& r, std::optional<std::uint64_t>& value) {
  if (r.kind != reply::type::array || r.elements.size() != 2 ||
      r.elements[0].kind != reply::type::string)
    return judge_held(r, value);
  if (r.elements[1].kind != reply::type::string) return vote::failed;
  value = parse_fence(r.elements[0].text);
  return value ? vote::granted : vote::failed;
}

// The compare-and-X scripts: 1 = done on our key, 0 = our key is not there.
vote judge_script(const reply& r, std::optional<std::uint64_t>&) {
  if (r.kind == reply::type::integer && r.integer == 1) return vote::granted;
  if (r.kind == reply::type::integer && r.integer == 0) return vote::refused;
  return vote::failed;
}

std::string millis(nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

// Whether a request's answer shows it may have taken effect on the node, as far as we know.
bool may_have_run(const node_answer& answer, vote said) {
  return answer.error ? answer.maybe_ran : said == vote::granted;
}

// The request was written but we never saw its outcome: it may still run late.
bool outcome_unknown(const node_answer& answer) {
  return answer.error && answer.maybe_ran;
}

}  // namespace

engine::engine(engine_config config, std::vector<node_link*> nodes, const clock& clock,
               scheduler& timers)
    : config_(std::move(config)),
      clock_(clock),
      timers_(timers),
      rng_(config_.seed),
      teller_prefix_(random_token().substr(0, 16) + ":"),
      debts_(nodes.size(), release_ledger(config_.max_debt_per_node)),
      paid_at_(nodes.size()),
      payment_due_(nodes.size(), false) {
  env_.nodes = std::move(nodes);
  env_.quorum = config_.quorum;
  env_.ack_replicas = config_.ack_replicas;
  env_.ack_timeout = config_.ack_timeout;
  env_.time = &clock_;
  env_.timers = &timers_;
  env_.excluded = [this](std::size_t node) { return excluded(node); };
  env_.observe = [this](std::size_t node, const node_answer& a) { observe(node, a); };
  for (std::size_t i = 0; i < env_.nodes.size(); ++i) {
    env_.nodes[i]->on_change([this, i] { node_changed(i); });
  }
  fence_seeder::hooks h;
  h.begin = [this] { begin(work::background); };
  h.end = [this] { end(work::background); };
  h.finished = [this](std::size_t) { seeding_finished(); };
  seeder_ = std::make_unique<fence_seeder>(env_, fence_key(), config_.retry_delay, std::move(h));
}

// Lock keys are key_prefix + a resource that is never empty, so no lock key is the prefix
// itself: the fences of all resources live in the hash at that key, one field per resource.
const std::string& engine::fence_key() const {
  return config_.key_prefix;
}

std::string engine::key_of(std::string_view resource) const {
  std::string key = config_.key_prefix;
  key.append(resource.data(), resource.size());
  return key;
}

void engine::begin(work kind) {
  std::size_t& count = kind == work::operation ? in_flight_ : background_;
  if (count++ == 0 && activity_) activity_(in_flight_ > 0);
}

void engine::end(work kind) {
  std::size_t& count = kind == work::operation ? in_flight_ : background_;
  if (--count == 0 && activity_) activity_(in_flight_ > 0);
}

// ---- one server, one vote -----------------------------------------------------------------

std::optional<std::size_t> engine::duplicate_of(std::size_t node) const {
  const link_status& s = env_.nodes[node]->status();
  if (!s.ready || !s.server || s.server->run_id.empty()) return std::nullopt;
  for (std::size_t j = 0; j < node; ++j) {
    const link_status& other = env_.nodes[j]->status();
    if (other.ready && other.server && other.server->run_id == s.server->run_id) return j;
  }
  return std::nullopt;
}

exclusion engine::excluded(std::size_t node) const {
  const link_status& s = env_.nodes[node]->status();
  // Asked for every node of every round: the clock is read only for a node ever quarantined.
  steady::time_point now =
      s.quarantined_until != steady::time_point{} ? clock_.now() : steady::time_point{};
  if (s.quarantined_until > now) {
    return {errc::quarantined,
            s.quarantine_reason + "; it votes again in " + millis(s.quarantined_until - now)};
  }
  if (!config_.risky_nodes_vote && s.server && !s.server->key_loss_risks.empty()) {
    std::string risks;
    for (const std::string& r : s.server->key_loss_risks)
      risks += (risks.empty() ? "" : "; ") + r;
    return {errc::unsafe_server, risks + " (see client_options::risky_nodes_vote)"};
  }
  std::optional<std::size_t> first = duplicate_of(node);
  if (!first) return {};
  return {errc::duplicate_server, "same server (run_id " +
                                      env_.nodes[node]->status().server->run_id + ") as " +
                                      env_.nodes[*first]->name()};
}

// ---- acquire ------------------------------------------------------------------------------

std::uint64_t engine::acquire(std::vector<std::string> resources, const acquire_options& options,
                              acquire_callback done) {
  auto op = std::make_shared<acquire_op>();
  op->id = next_acquire_id_++;
  op->resources = std::move(resources);
  op->options = options;
  op->started = clock_.now();
  op->deadline = saturating_add(clock_.now(), options.wait);
  op->done = std::move(done);
  begin();
  ++counters_.started;
  if (closing_) {
    timers_.defer([this, op] {
      counters_.finished(errc::client_closed, clock_.now() - op->started);
      op->done({errc::client_closed,
                "the client is closing; acquire of " + quoted(op->resources) + " was not started"});
      end();
    });
    return op->id;
  }
  live_.emplace(op->id, op);
  for (const std::string& resource : op->resources)
    op->keys.push_back(key_of(resource));
  if (watch_ != nullptr && options.wait.count() > 0 && options.max_attempts > 1) {
    // Before the first attempt: a release published after our refusal is then heard (or,
    // when the subscription is confirmed only later, the confirmation wakes us instead).
    op->watched = true;
    op->teller = teller_prefix_ + std::to_string(op->id);
    for (const std::string& key : op->keys) {
      op->covered.push_back(watch_->watch(key));
      watched_[key].push_back(op);
    }
  }
  start_attempt(op);
  return op->id;
}

void engine::start_attempt(const std::shared_ptr<acquire_op>& op) {
  op->waiting_for_seeding = false;
  ++op->attempts;
  ++counters_.attempts;
  op->heard_release = false;
  op->refused = false;
  auto lock = std::make_shared<lock_record>(op->resources, op->keys, random_token(),
                                            op->options.ttl, env_.nodes.size());
  round::spec s;
  s.what = acquire_step(*op, *lock);
  // Waiting for room among a node's requests in flight spends the caller's wait budget; with
  // none, a full window refuses the request at once (errc::overloaded).
  s.queue_budget = std::max(op->deadline - clock_.now(), steady::duration::zero());
  round::listener l;
  // A late answer still tells where our key may be. After a won round the lease's release
  // goes to every node; after a lost round, a node that answers late that its SET may have
  // run gets its clean-up then.
  l.answered = [this, lock, fenced = op->options.fencing](std::size_t node,
                                                          const node_answer& answer, vote said) {
    // A fenced grant from a server its mark does not name counted as UNSEEDED: seed it.
    if (fenced && said == vote::granted && !closing_ &&
        !unseeded_grant(answer.value, answer.server.get()).empty())
      seeder_->unseeded(node, answer.server);
    if (!may_have_run(answer, said)) return;
    bool known = lock->may_hold[node];  // then its release is on its way already
    lock->may_hold[node] = true;
    if (outcome_unknown(answer)) lock->uncertain[node] = true;
    if (lock->attempt_lost && !known) {
      std::vector<bool> only(env_.nodes.size(), false);
      only[node] = true;
      send_release(lock, std::move(only), rule::every_answer, nullptr);
    }
  };
  l.decided = [this, op, lock](const round& r) { on_acquire_decided(op, r, lock); };
  // The round is work in flight until every node answered, after its decision too: a late
  // answer may call for a clean-up, and closing must not drop it.
  begin();
  l.complete = [this, op, attempt = op->attempts](const round& r) {
    on_acquire_complete(op, attempt, r);
    end();
  };
  round::run(env_, std::move(s), std::move(l));
}

// A waiter refused in a split vote tries again soon instead of after its retry delay: every
// contender lost that round and their clean-ups are quiet, so no release will wake it. The
// draw's spread doubles with each split until a release is heard (randomized back-off: a split
// again, or another owner's leftover key on a minority, costs few rounds). Another's `taken`
// does not call it off: the contenders of one split back off together, and each would hear
// the others' `taken` of their next, possibly split again, attempts; standing down on it left
// all of them waiting for their retry delay (a 5 s stall in EachReleaseHandsTheLockTo...).
void engine::on_acquire_complete(const std::shared_ptr<acquire_op>& op, int attempt,
                                 const round& r) {
  if (op->cancelled || !op->watched || !op->refused || op->attempts != attempt ||
      op->next_attempt == 0 || op->woken || closing_ || !split_vote(r))
    return;
  steady::time_point now = clock_.now();
  // After about one round, the others' clean-ups (sent when they lost) have landed.
  nanoseconds delay = within_budget(*op, (now - r.start()) + wake_delay(op->listening, op->splits));
  op->splits = std::min(op->splits + 1, max_split_doublings);
  if (now + delay < op->next_attempt_at) {
    schedule_attempt(op, delay, true);
    op->backing_off = true;
  }
}

// Whether a refused acquire's complete round shows that no other owner holds a majority
// either: each refusal names its owner (judge_held), and a node that failed may be anyone's.
// A refusal whose owner is unknown (a key of another type) never makes a split.
bool engine::split_vote(const round& r) const {
  std::size_t needed = env_.majority();
  std::unordered_map<std::uint64_t, std::size_t> refusals_by_owner;
  std::size_t failed = 0;
  for (std::size_t i = 0; i < r.reports().size(); ++i) {
    vote v = r.reports()[i].vote;
    if (v == vote::failed) ++failed;
    if (v == vote::unanswered && r.asked(i)) return false;
    if (v != vote::refused) continue;
    std::uint64_t owner = r.values()[i] ? refused_owner(*r.values()[i]) : 0;
    if (owner == 0) return false;
    ++refusals_by_owner[owner];
  }
  if (refusals_by_owner.empty()) return false;
  return std::all_of(refusals_by_owner.begin(), refusals_by_owner.end(),
                     [&](const auto& owner) { return owner.second + failed < needed; });
}

void engine::on_acquire_decided(const std::shared_ptr<acquire_op>& op, const round& r,
                                const std::shared_ptr<lock_record>& lock) {
  if (op->cancelled) {
    abandon(lock);
    return;
  }
  if (r.outcome() == decision::lost) {
    const vote_counter& votes = r.votes();
    if (votes.permanent_failures_decide()) {
      finish_attempt(op, r, lock, errc::misconfigured,
                     "no majority for " + quoted(op->resources) +
                         " is possible: nodes refuse the configuration (retrying cannot help): " +
                         r.summary());
    } else if (votes.refusals_decide()) {
      finish_attempt(op, r, lock, errc::held_elsewhere,
                     held_by_others(*op, r) + " by another owner: " + r.summary());
    } else if (std::any_of(r.reports().begin(), r.reports().end(),
                           [](const node_report& n) { return n.error == errc::overloaded; })) {
      finish_attempt(op, r, lock, errc::overloaded,
                     "no majority for " + quoted(op->resources) +
                         ": the client has too many requests in flight: " + r.summary());
    } else {
      finish_attempt(op, r, lock, errc::no_quorum,
                     "no majority for " + quoted(op->resources) + ": " + r.summary());
    }
    return;
  }
  // Nodes that have not answered yet may still set the key when our SET reaches them: the
  // lease's release is owed to them if it cannot be delivered.
  for (std::size_t i = 0; i < env_.nodes.size(); ++i) {
    if (r.reports()[i].vote == vote::unanswered) lock->may_hold[i] = true;
  }
  steady::time_point now = clock_.now();
  steady::time_point valid_until =
      validity_deadline(r.start(), op->options.ttl, config_.drift_factor);
  if (valid_until <= now) {
    finish_attempt(
        op, r, lock, errc::validity_spent,
        "a majority granted " + quoted(op->resources) + " after " + millis(now - r.start()) +
            ", which spent the validity of ttl " + millis(op->options.ttl) + " minus drift " +
            millis(drift_allowance(op->options.ttl, config_.drift_factor)) + ": " + r.summary());
    return;
  }
  if (op->options.fencing) {
    write_fence(op, r, lock, valid_until);
    return;
  }
  lock->set_valid_until(valid_until);
  complete(op, result<std::shared_ptr<lock_record>>(lock, r.tally(op->attempts)));
}

// Nobody takes this lock (its acquire was cancelled): released where our key may be, and
// where a late answer says so.
void engine::abandon(const std::shared_ptr<lock_record>& lock) {
  lock->released = true;
  lock->attempt_lost = true;
  send_release(lock, lock->may_hold, rule::every_answer, nullptr);
}

// ---- fencing ------------------------------------------------------------------------------

step engine::acquire_step(const acquire_op& op, const lock_record& lock) const {
  std::string ttl = std::to_string(op.options.ttl.count());
  if (op.options.fencing) {
    return {script_call(acquire_fenced_script, lock.keys, {lock.token, ttl}, fence_key(),
                        lock.resources),
            judge_fenced_acquire, true, unseeded_grant};
  }
  if (lock.keys.size() == 1 && !op.watched) {
    // The plain path: no script, no cost for one resource without waiters to tell.
    auto cmd = std::make_shared<command>();
    cmd->wire = encode_command({"SET", lock.keys[0], lock.token, "NX", "PX", ttl});
    return {std::move(cmd), judge_set, true};
  }
  // Several resources are set all or nothing; a waiter's acquire tells the other waiters
  // when it takes the keys (acquire.lua).
  return {op.watched ? script_call(acquire_script, lock.keys, {lock.token, ttl, "tell", op.teller})
                     : script_call(acquire_script, lock.keys, {lock.token, ttl}),
          judge_acquire, true};
}

// "'b' of 'a', 'b' and 'c' is held (at least)" for the resources that refusing nodes named
// (acquire.lua's {-i, token}), or "one of 'a' and 'b' at least is held" when none did.
std::string engine::held_by_others(const acquire_op& op, const round& r) {
  std::vector<bool> named(op.resources.size(), false);
  for (std::size_t i = 0; i < r.reports().size(); ++i) {
    const std::optional<std::uint64_t>& value = r.values()[i];
    if (r.reports()[i].vote != vote::refused || !value) continue;
    std::size_t index = refused_index(*value);
    if (index >= 1 && index <= op.resources.size()) named[index - 1] = true;
  }
  std::vector<std::string> held;
  for (std::size_t k = 0; k < named.size(); ++k) {
    if (named[k]) held.push_back(op.resources[k]);
  }
  if (op.resources.size() == 1) return quoted(op.resources) + " is held";
  if (held.empty()) return "one of " + quoted(op.resources) + " at least is held";
  // Each node names the first held resource it found: others may be held too.
  return quoted(held) + " of " + quoted(op.resources) + (held.size() == 1 ? " is" : " are") +
         " held (at least)";
}

// The first step won: the fence is the largest stored over the granting majority, plus one.
// It is written back (max(stored, fence)) to a majority that still holds our key before the
// lease exists; only then is it handed out (docs/safety.md, "Fencing tokens"). The lease's
// validity still counts from the first step's start, and the write-back must finish within
// it.
void engine::write_fence(const std::shared_ptr<acquire_op>& op, const round& first,
                         const std::shared_ptr<lock_record>& lock, steady::time_point valid_until) {
  std::uint64_t highest = 0;
  for (std::size_t i = 0; i < first.reports().size(); ++i) {
    if (first.reports()[i].vote == vote::granted && first.values()[i])
      highest = std::max(highest, *first.values()[i]);
  }
  if (highest == std::numeric_limits<std::uint64_t>::max()) {
    finish_attempt(
        op, first, lock, errc::fence_exhausted,
        "the stored fence of " + quoted(op->resources) +
            " is 2^64-1 on a granting node: no larger fencing token exists: " + first.summary());
    return;
  }
  std::uint64_t fence = highest + 1;
  std::vector<std::string> fields = lock->resources;  // then the fence, the last argument
  fields.push_back(std::to_string(fence));
  std::shared_ptr<const command> cmd =
      script_call(fence_write_script, lock->keys, {lock->token}, fence_key(), fields);
  round::listener l;
  l.decided = [this, op, lock, fence, valid_until](const round& r) {
    if (op->cancelled) {
      abandon(lock);
      return;
    }
    if (r.outcome() == decision::lost) {
      // A node whose answer is 0 no longer holds our key: its write proves nothing.
      errc code = r.votes().permanent_failures_decide() ? errc::misconfigured : errc::no_quorum;
      finish_attempt(op, r, lock, code,
                     "a majority granted " + quoted(op->resources) +
                         ", but too few of them stored fencing token " + std::to_string(fence) +
                         " while still holding our key: " + r.summary());
      return;
    }
    steady::time_point now = clock_.now();
    if (valid_until <= now) {
      finish_attempt(op, r, lock, errc::validity_spent,
                     "the fencing token of " + quoted(op->resources) + " was stored after " +
                         millis(now - r.start()) + ", which spent the validity of ttl " +
                         millis(op->options.ttl) + " minus drift: " + r.summary());
      return;
    }
    lock->fence = fence;
    lock->set_valid_until(valid_until);
    complete(op, result<std::shared_ptr<lock_record>>(lock, r.tally(op->attempts)));
  };
  begin();
  l.complete = [this](const round&) { end(); };
  round::then(env_, first, {cmd, judge_script, true}, rule::majority_granted, std::move(l),
              valid_until - clock_.now());
}

// A fresh fleet's nodes, and a node that lost its data, answer a fenced acquire UNSEEDED until
// the seeder has given them the fleet's numbers (fence_seeder.hpp). The attempt that met them
// is tried again once when their seedings end, within the acquire's wait budget or not, so
// that the first fenced acquire on a fresh fleet does not fail for it. The bound is only a
// backstop: a seeding's requests each end within the node timeout.
bool engine::wait_for_seeding(const std::shared_ptr<acquire_op>& op, const round& r,
                              std::string& message) {
  bool running = false;
  for (std::size_t i = 0; i < r.reports().size(); ++i) {
    const node_report& n = r.reports()[i];
    if (n.error != errc::server_error || !is_unseeded(n.detail)) continue;
    if (seeder_->seeding(i)) {
      running = true;
    } else if (!seeder_->last_failure(i).empty()) {
      message += "; " + env_.nodes[i]->name() + ": " + seeder_->last_failure(i);
    }
  }
  if (!running || op->waited_for_seeding || closing_) return false;
  op->waited_for_seeding = true;
  op->waiting_for_seeding = true;
  seed_waiters_.push_back(op);
  schedule_attempt(op, std::chrono::seconds(5), false);
  return true;
}

void engine::seeding_finished() {
  for (std::size_t i = 0; i < env_.nodes.size(); ++i) {
    if (seeder_->seeding(i)) return;
  }
  auto waiters = std::move(seed_waiters_);
  seed_waiters_.clear();
  for (const auto& op : waiters) {
    if (!op->cancelled && op->waiting_for_seeding) schedule_attempt(op, nanoseconds(0), false);
  }
}

void engine::complete(const std::shared_ptr<acquire_op>& op,
                      result<std::shared_ptr<lock_record>> outcome) {
  live_.erase(op->id);
  unwatch(op);
  counters_.finished(outcome.error(), clock_.now() - op->started);
  auto done = std::move(op->done);
  done(std::move(outcome));
  end();
}

// The caller gets cancelled now. A retry wait ends; a round already out is not called back,
// and its outcome is cleaned up when it comes (on_acquire_decided).
void engine::cancel(std::uint64_t acquire_id) {
  auto it = live_.find(acquire_id);
  if (it == live_.end()) return;
  std::shared_ptr<acquire_op> op = it->second;
  if (op->next_attempt != 0) {
    timers_.cancel(op->next_attempt);
    waiting_.erase(op->next_attempt);
    op->next_attempt = 0;
  }
  op->cancelled = true;
  complete(op, {errc::cancelled, "the acquire of " + quoted(op->resources) + " was cancelled",
                op->last_tally});
}

void engine::finish_attempt(const std::shared_ptr<acquire_op>& op, const round& r,
                            const std::shared_ptr<lock_record>& lock, errc error,
                            std::string message) {
  // The clean-up: nodes known to may hold our key get the release now; those that have not
  // answered get it when they answer that the SET may have run (a burst's SETs that never
  // left then cost no release at all).
  lock->released = true;
  lock->attempt_lost = true;
  send_release(lock, lock->may_hold, rule::every_answer, nullptr);
  op->last_tally = r.tally(op->attempts);
  op->refused = error == errc::held_elsewhere;
  if (op->options.fencing && is_retryable(error) && wait_for_seeding(op, r, message)) return;

  // A release heard while this attempt was out may have freed the lock after our SET was
  // refused: try again soon. Otherwise the retry delay, or a notification, whichever first.
  bool woken = op->heard_release;
  nanoseconds delay = woken ? within_budget(*op, wake_delay(op->listening, 0)) : retry_delay();
  bool may_retry = is_retryable(error) && !closing_ && op->attempts < op->options.max_attempts;
  if (may_retry && clock_.now() + delay < op->deadline) {
    schedule_attempt(op, delay, woken);
    return;
  }
  if (op->attempts > 1) message += " (after " + std::to_string(op->attempts) + " attempts)";
  if (may_retry && error == errc::held_elsewhere && op->watched && clock_.now() < op->deadline) {
    // No retry fits in the budget, but a release of the lock still may: listen until the
    // budget ends, then fail with this attempt's outcome.
    schedule_attempt(op, op->deadline - clock_.now(), false);
    op->give_up.emplace(error, std::move(message));
    return;
  }
  complete(op, {error, std::move(message), op->last_tally});
}

void engine::schedule_attempt(const std::shared_ptr<acquire_op>& op, nanoseconds delay,
                              bool woken) {
  op->woken = woken;
  op->backing_off = false;
  op->give_up.reset();
  if (!woken) op->fallback_at = clock_.now() + delay;
  if (op->next_attempt != 0) {
    timers_.cancel(op->next_attempt);
    waiting_.erase(op->next_attempt);
  }
  auto id = std::make_shared<scheduler::timer_id>(0);
  *id = timers_.schedule(delay, [this, op, id] {
    waiting_.erase(*id);
    op->next_attempt = 0;
    if (op->give_up) {
      auto [error, message] = std::move(*op->give_up);
      complete(op, {error, std::move(message), op->last_tally});
      return;
    }
    start_attempt(op);
  });
  op->next_attempt = *id;
  op->next_attempt_at = clock_.now() + delay;
  waiting_.emplace(*id, op);
}

nanoseconds engine::retry_delay() {
  nanoseconds delay = config_.retry_delay;
  if (config_.retry_jitter.count() > 0) {
    std::uniform_int_distribution<nanoseconds::rep> jitter(
        0, nanoseconds(config_.retry_jitter).count());
    delay += nanoseconds(jitter(rng_));
  }
  return delay;
}

// A wake's attempt is the waiter's last chance when drawn past the budget: it then comes just
// before the budget ends (an attempt must start within it).
nanoseconds engine::within_budget(const acquire_op& op, nanoseconds delay) const {
  nanoseconds left = op.deadline - clock_.now() - nanoseconds(1);
  return std::max(nanoseconds::zero(), std::min(delay, left));
}

nanoseconds engine::wake_delay(std::size_t listening, int doublings) {
  // Capped at the retry delay, so that a count from a hostile server (or a crowd of
  // lingering listeners) cannot make a wake-up slower than not being woken at all.
  auto slots = static_cast<nanoseconds::rep>(std::clamp<std::size_t>(listening, 1, 1000));
  nanoseconds::rep widest =
      std::min((nanoseconds(config_.wake_spread).count() * slots) << doublings,
               std::max<nanoseconds::rep>(nanoseconds(config_.retry_delay).count(), 1));
  std::uniform_int_distribution<nanoseconds::rep> spread(0, widest);
  return nanoseconds(spread(rng_));
}

// ---- waiting by notification ----------------------------------------------------------------

void engine::notice(const std::string& key, key_notice what, std::size_t listening,
                    std::string_view teller) {
  auto it = watched_.find(key);
  if (closing_ || it == watched_.end()) return;
  steady::time_point now = clock_.now();
  for (const std::shared_ptr<acquire_op>& op : it->second) {
    // A lock on several resources hears about each of its keys (distinct: check_acquire).
    auto place = std::find(op->keys.begin(), op->keys.end(), key);
    if (place == op->keys.end()) continue;
    auto covered = op->covered.begin() + (place - op->keys.begin());
    if (what == key_notice::not_delivering) {
      *covered = false;
      continue;
    }
    if (what == key_notice::taken) {
      // Our own attempt's notice (heard after its refusal elsewhere) tells nothing new.
      if (!teller.empty() && teller == op->teller) continue;
      // Someone else won the release we were woken by: wait for the next one (or the retry
      // delay) instead of sending a round that must fail.
      op->heard_release = false;
      if (op->next_attempt == 0 || !op->woken || op->backing_off) continue;
      // Back to the retry it had before the wake (or a fresh one), within the budget; past
      // the budget the woken attempt stays, the last chance to get the lock.
      steady::time_point fallback = op->fallback_at > now ? op->fallback_at : now + retry_delay();
      if (fallback < op->deadline) schedule_attempt(op, fallback - now, false);
      continue;
    }
    // A subscription confirmed only after an attempt went out may have missed a release
    // between that attempt and itself: the confirmation wakes the waiter like a release.
    if (what == key_notice::delivering) {
      if (*covered) continue;
      *covered = true;
    }
    op->listening = what == key_notice::released ? listening : 1;
    if (what == key_notice::released) op->splits = 0;
    if (op->next_attempt == 0) {
      op->heard_release = true;  // an attempt is out: its refusal retries soon
      continue;
    }
    if (op->woken) continue;  // every node publishes the release: one draw per wake, not N
    nanoseconds delay = within_budget(*op, wake_delay(op->listening, 0));
    if (op->next_attempt_at > now + delay && now + delay < op->deadline)
      schedule_attempt(op, delay, true);
  }
}

void engine::unwatch(const std::shared_ptr<acquire_op>& op) {
  if (!op->watched) return;
  op->watched = false;
  for (const std::string& key : op->keys) {
    auto it = watched_.find(key);
    if (it != watched_.end()) {
      auto& ops = it->second;
      ops.erase(std::remove(ops.begin(), ops.end(), op), ops.end());
      if (ops.empty()) watched_.erase(it);
    }
    watch_->unwatch(key);
  }
}

// ---- extend -------------------------------------------------------------------------------

void engine::extend(std::shared_ptr<lock_record> lock, milliseconds ttl, done_callback done) {
  begin();
  if (lock->extending) {
    lock->queued_extends.push_back({ttl, std::move(done)});
    return;
  }
  start_extend(lock, ttl, std::move(done));
}

void engine::start_extend(const std::shared_ptr<lock_record>& lock, milliseconds ttl,
                          done_callback done) {
  steady::time_point old_valid_until = lock->valid_until();
  errc early{};
  std::string why;
  if (lock->released) {
    early = errc::empty_lease;
    why = "the lease of " + lock->name() + " was already released";
  } else if (closing_) {
    early = errc::client_closed;
    why = "the client is closing; extend of " + lock->name() + " was not started";
  } else if (lock->lost(clock_.now())) {
    early = errc::lock_lost;
    why = "the lease of " + lock->name() + " was lost before extend";
  }
  lock->extending = true;
  if (early != errc{}) {
    timers_.defer([this, lock, done = std::move(done), early, why = std::move(why)] {
      done({early, why});
      extend_finished(lock);
    });
    return;
  }
  round::spec s;
  s.what = {script_call(extend_script, lock->keys, {lock->token, std::to_string(ttl.count())}),
            judge_script, true};
  s.queue_budget = old_valid_until - clock_.now();  // no later than the lease ends
  // Nodes that may have run this PEXPIRE, as known at each answer.
  auto ran = std::make_shared<std::vector<bool>>(env_.nodes.size(), false);
  round::listener l;
  l.answered = [lock, ttl, ran](std::size_t node, const node_answer& answer, vote said) {
    if (said == vote::granted) lock->may_hold[node] = true;
    (*ran)[node] = may_have_run(answer, said);
    // This PEXPIRE may still run there, after a later extend: that node's key may then live
    // only `ttl` from whenever it runs.
    if (outcome_unknown(answer)) lock->late_ttl[node] = std::min(lock->late_ttl[node], ttl);
  };
  l.decided = [this, lock, ttl, ran, done = std::move(done)](const round& r) {
    on_extend_decided({r.start(), r.outcome(), r.votes(), r.reports(), r.asked_nodes()}, lock, ttl,
                      *ran, done);
  };
  l.complete = [this, lock](const round&) { extend_finished(lock); };
  round::run(env_, std::move(s), std::move(l));
}

// ---- batched extensions ---------------------------------------------------------------------

// One lock's share of a batch: its own votes and reports, as its own round would have them.
struct engine::extend_batch {
  struct share {
    std::shared_ptr<lock_record> lock;
    milliseconds ttl;
    done_callback done;
    std::unique_ptr<vote_counter> votes;
    std::vector<node_report> reports;
    std::vector<bool> ran;  // nodes that may have run this lock's PEXPIRE
    bool decided = false;
  };
  std::vector<share> shares;
  std::vector<bool> counted;  // per node: its vote is in every share's counter
  std::weak_ptr<round> batch_round;
};

void engine::extend_many(std::vector<batch_member> members) {
  std::vector<batch_member> batch;
  steady::time_point now = clock_.now();
  for (batch_member& m : members) {
    // One extend per lock: one in flight is followed, not joined. The early outcomes
    // (released, closing, lost) are extend()'s. A lock on several resources is extended all
    // or nothing, by extend.lua: its own round.
    if (m.lock->extending || m.lock->released || closing_ || m.lock->lost(now) ||
        m.lock->keys.size() > 1) {
      extend(std::move(m.lock), m.ttl, std::move(m.done));
      continue;
    }
    batch.push_back(std::move(m));
    if (batch.size() == max_batch) {
      send_batch(std::move(batch));
      batch.clear();  // moved-from: empty it for the next batch
    }
  }
  if (batch.size() == 1) {
    extend(std::move(batch[0].lock), batch[0].ttl, std::move(batch[0].done));
  } else if (!batch.empty()) {
    send_batch(std::move(batch));
  }
}

// One batch call in flight at a time: a node serves its calls in order, about 1 µs a key, so
// ten 1,000-key calls sent at once would have the last one answered after the nine before it
// (tens of ms on a loaded server) and time out under the default node_timeout, though each
// call alone takes a few ms. Queued, each call's deadline counts its own time on the server.
// A queued batch is looked at again when it goes out (extend_many): a lock released, lost or
// extended meanwhile takes extend()'s path then.
void engine::send_batch(std::vector<batch_member> batch) {
  if (!batch_in_flight_) {
    start_batch(std::move(batch));
    return;
  }
  begin();  // its members' extends are operations in flight, until it goes out
  queued_batches_.push_back(std::move(batch));
}

void engine::send_next_batch() {
  while (!batch_in_flight_ && !queued_batches_.empty()) {
    std::vector<batch_member> next = std::move(queued_batches_.front());
    queued_batches_.pop_front();
    extend_many(std::move(next));
    end();
  }
}

namespace {

// extend_many.lua: granted when every per-key result is 1 or 0 (the shares read them).
vote judge_batch(const reply& r, std::optional<std::uint64_t>&) {
  if (r.kind != reply::type::array) return vote::failed;
  for (const reply& e : r.elements) {
    if (e.kind != reply::type::integer || (e.integer != 0 && e.integer != 1)) return vote::failed;
  }
  return vote::granted;
}

}  // namespace

void engine::start_batch(std::vector<batch_member> members) {
  auto b = std::make_shared<extend_batch>();
  b->counted.assign(env_.nodes.size(), false);
  std::vector<node_report> blank(env_.nodes.size());
  for (std::size_t i = 0; i < blank.size(); ++i)
    blank[i].endpoint = env_.nodes[i]->name();
  std::vector<std::string> ttls;
  std::vector<std::string_view> args{"EVALSHA", extend_many_script.sha1, ""};
  std::string key_count = std::to_string(members.size());
  args[2] = key_count;
  ttls.reserve(members.size());
  steady::time_point ends = steady::time_point::max();
  for (batch_member& m : members)
    args.push_back(m.lock->keys[0]);
  for (batch_member& m : members) {
    ttls.push_back(std::to_string(m.ttl.count()));
    ends = std::min(ends, m.lock->valid_until());
  }
  for (std::size_t k = 0; k < members.size(); ++k) {
    args.push_back(members[k].lock->token);
    args.push_back(ttls[k]);
  }
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command(args);
  cmd->script_source = extend_many_script.source;
  for (batch_member& m : members) {
    begin();  // each lock's extend is an operation in flight, as extend() counts it
    m.lock->extending = true;
    extend_batch::share sh;
    sh.lock = std::move(m.lock);
    sh.ttl = m.ttl;
    sh.done = std::move(m.done);
    sh.votes =
        std::make_unique<vote_counter>(rule::majority_granted, env_.nodes.size(), env_.majority());
    sh.reports = blank;
    sh.ran.assign(env_.nodes.size(), false);
    b->shares.push_back(std::move(sh));
  }
  round::spec s;
  s.what = {std::move(cmd), judge_batch, true};
  s.queue_budget = std::max(ends - clock_.now(), steady::duration::zero());
  round::listener l;
  l.answered = [this, b](std::size_t node, const node_answer& answer, vote) {
    std::shared_ptr<round> r = b->batch_round.lock();  // it is calling us: alive
    batch_answered(*b, *r, node, answer);
  };
  l.complete = [this, b](const round& r) {
    batch_count_exclusions(*b, r);
    for (extend_batch::share& sh : b->shares)
      extend_finished(sh.lock);
    batch_in_flight_ = false;
    send_next_batch();
  };
  batch_in_flight_ = true;
  b->batch_round = round::run(env_, std::move(s), std::move(l));
}

// A node the round did not ask (excluded: a duplicate server) failed for every share; no
// answer of it comes, so it is counted at the first answer of another node or at the end.
void engine::batch_count_exclusions(extend_batch& b, const round& r) {
  for (std::size_t i = 0; i < b.counted.size(); ++i) {
    const node_report& report = r.reports()[i];
    if (b.counted[i] || report.vote != vote::failed) continue;
    b.counted[i] = true;
    bool permanent = is_permanent(report.error);
    for (extend_batch::share& sh : b.shares) {
      sh.reports[i] = report;
      sh.votes->record(vote::failed, permanent);
    }
  }
  for (extend_batch::share& sh : b.shares) {
    if (sh.decided || sh.votes->state() == decision::pending) continue;
    sh.decided = true;
    on_extend_decided({r.start(), sh.votes->state(), *sh.votes, sh.reports, r.asked_nodes()},
                      sh.lock, sh.ttl, sh.ran, sh.done);
  }
}

// One node's answer to the batch becomes one vote per share: its per-key result (1 granted,
// 0 refused) when the reply is whole, failed for every share when the node failed (timeout,
// error reply, a reply not of this batch's shape, a second vote of one server).
void engine::batch_answered(extend_batch& b, const round& r, std::size_t node,
                            const node_answer& answer) {
  const node_report& report = r.reports()[node];  // the vote the round counted
  b.counted[node] = true;
  batch_count_exclusions(b, r);
  const reply& value = answer.value;
  bool whole =
      !answer.error && report.vote == vote::granted && value.elements.size() == b.shares.size();
  bool permanent = is_permanent(report.error);
  for (std::size_t k = 0; k < b.shares.size(); ++k) {
    extend_batch::share& sh = b.shares[k];
    vote said = vote::failed;
    node_report& mine = sh.reports[node];
    mine.latency = report.latency;
    if (whole) {
      said = value.elements[k].integer == 1 ? vote::granted : vote::refused;
      sh.ran[node] = said == vote::granted;
    } else {
      mine.error = report.error ? report.error : make_error_code(errc::unexpected_reply);
      mine.detail = report.error ? report.detail
                                 : std::to_string(value.elements.size()) + " results for " +
                                       std::to_string(b.shares.size()) + " keys";
      // An error reply may come from a script stopped halfway, after some PEXPIREs ran; a
      // reply we cannot read proves nothing either: both may have run.
      sh.ran[node] = answer.error ? answer.maybe_ran : true;
    }
    mine.vote = said;
    if (said == vote::granted) sh.lock->may_hold[node] = true;
    if (outcome_unknown(answer))
      sh.lock->late_ttl[node] = std::min(sh.lock->late_ttl[node], sh.ttl);
    sh.votes->record(said, !whole && permanent);
    if (sh.decided || sh.votes->state() == decision::pending) continue;
    sh.decided = true;
    on_extend_decided({r.start(), sh.votes->state(), *sh.votes, sh.reports, r.asked_nodes()},
                      sh.lock, sh.ttl, sh.ran, sh.done);
  }
}

// The rule (docs/design.md, "Extending"): valid_until moves later only when a majority
// extended within the current validity. Every other outcome leaves at most what the nodes
// that may have run this PEXPIRE still hold (start + ttl - drift), or now on lock_lost.
void engine::on_extend_decided(const extend_votes& r, const std::shared_ptr<lock_record>& lock,
                               milliseconds ttl, const std::vector<bool>& ran,
                               const done_callback& done) {
  steady::time_point now = clock_.now();
  tally t(r.reports, 1);
  // Words only for failures: a batch decides thousands of successes at once.
  auto summary = [&r] { return summarize(r.reports, r.asked); };
  const std::string what = "extend of " + lock->name() + ": ";
  auto shorten_to = [&](steady::time_point t_end) {
    lock->set_valid_until(std::min(lock->valid_until(), t_end));
  };
  auto lost = [&](std::string why) {
    shorten_to(now);
    done({errc::lock_lost, what + why, t});
  };

  if (lock->released) {
    shorten_to(now);
    done({errc::empty_lease, what + "the lease was released while the extend was in flight", t});
    return;
  }
  const vote_counter& votes = r.votes;
  if (r.outcome == decision::lost && votes.refusals_decide()) {
    lost("a majority no longer holds our token: " + summary());
    return;
  }
  if (r.outcome == decision::won && lock->lost(now)) {
    // Past the margin (or declared lost meanwhile) the holder may have stopped trusting the
    // lock: a late success must not make lost() false again.
    lost("the majority answered after the lease was lost (within its margin of valid_until): " +
         summary());
    return;
  }
  // What the nodes that granted hold for certain: each at least min(ttl, any earlier extend
  // of this lock that may still run there late) from the start of this round.
  std::vector<milliseconds> lifetimes;
  bool any_may_have_run = false;
  for (std::size_t i = 0; i < r.reports.size(); ++i) {
    const node_report& report = r.reports[i];
    if (report.vote == vote::granted) lifetimes.push_back(std::min(ttl, lock->late_ttl[i]));
    bool unanswered = r.asked[i] && report.vote == vote::unanswered;
    any_may_have_run = any_may_have_run || ran[i] || unanswered;
  }
  steady::time_point bound = validity_deadline(r.start, ttl, config_.drift_factor);
  if (any_may_have_run) lock->ttl = std::max(lock->ttl, ttl);  // how long a key may still live
  if (r.outcome == decision::lost) {
    if (any_may_have_run) shorten_to(bound);
    errc code = votes.permanent_failures_decide() ? errc::misconfigured : errc::no_quorum;
    done({code,
          what +
              "no majority extended; the lease now ends at the earliest time a node that may "
              "have run it could drop the key: " +
              summary(),
          t});
    return;
  }
  steady::time_point valid_until = validity_deadline(
      r.start, guaranteed_ttl(std::move(lifetimes), env_.majority()), config_.drift_factor);
  if (valid_until <= now) {
    shorten_to(std::min(bound, valid_until));
    done({errc::validity_spent,
          what + "a majority answered after " + millis(now - r.start) +
              ", which spent the new validity; the lease now ends no later than that",
          t});
    return;
  }
  lock->set_valid_until(valid_until);
  done(result<void>(t));
}

void engine::extend_finished(const std::shared_ptr<lock_record>& lock) {
  lock->extending = false;
  if (!lock->queued_extends.empty()) {
    auto next = std::move(lock->queued_extends.front());
    lock->queued_extends.erase(lock->queued_extends.begin());
    start_extend(lock, next.ttl, std::move(next.done));
  }
  end();
}

// ---- ownership check ----------------------------------------------------------------------

// A majority holding our token, read in one round, proves the lock is still ours; the smallest
// ttl among them bounds how long that lasts, so the lease's validity is shortened to it (never
// moved later: a read is no extension). A majority without our token means the lease is lost.
void engine::check(std::shared_ptr<lock_record> lock, check_callback done) {
  begin();
  if (lock->released) {
    timers_.defer([this, done = std::move(done), name = lock->name()] {
      done({errc::empty_lease, "the lease of " + name + " was already released"});
      end();
    });
    return;
  }
  round::spec s;
  s.what = {script_call(check_script, lock->keys, {lock->token}), judge_check};
  s.queue_budget = std::max(lock->valid_until() - clock_.now(), steady::duration::zero());
  round::listener l;
  l.decided = [this, lock, done = std::move(done)](const round& r) {
    std::string what = "ownership check of " + lock->name() + ": ";
    steady::time_point now = clock_.now();
    if (r.outcome() == decision::lost) {
      if (r.votes().refusals_decide()) {
        lock->set_valid_until(std::min(lock->valid_until(), now));
        done({errc::lock_lost, what + "a majority no longer holds our token: " + r.summary(),
              r.tally()});
      } else {
        done({errc::no_quorum, what + "too few nodes answered: " + r.summary(), r.tally()});
      }
      return;
    }
    auto least = static_cast<std::uint64_t>(std::numeric_limits<long long>::max());
    for (std::size_t i = 0; i < r.reports().size(); ++i) {
      if (r.reports()[i].vote == vote::granted && r.values()[i])
        least = std::min(least, *r.values()[i]);
    }
    ownership o;
    o.min_ttl = milliseconds(static_cast<long long>(least));
    if (o.min_ttl != milliseconds::max()) {
      lock->set_valid_until(std::min(
          lock->valid_until(), validity_deadline(r.start(), o.min_ttl, config_.drift_factor)));
    }
    o.valid_until = lock->valid_until();
    if (o.valid_until <= now) {
      done({errc::lock_lost,
            what +
                "a majority holds our token, but for less than the drift allowance: " + r.summary(),
            r.tally()});
      return;
    }
    done(result<ownership>(o, r.tally()));
  };
  l.complete = [this](const round&) { end(); };
  round::run(env_, std::move(s), std::move(l));
}

// ---- release ------------------------------------------------------------------------------

void engine::release(std::shared_ptr<lock_record> lock, done_callback done) {
  if (lock->released) {
    begin();
    timers_.defer([this, done = std::move(done), name = lock->name()] {
      if (done) done({errc::empty_lease, "the lease of " + name + " was already released"});
      end();
    });
    return;
  }
  lock->released = true;
  send_release(lock, {}, rule::majority_confirmed, [this, lock, done](const round& r) {
    // Decided once a majority confirmed our key is gone (the lock is free for others), or
    // once that can no longer happen. A paused node does not hold up the caller: its answer
    // (or its owed release) comes later; the operation counts as in flight until then.
    if (!done) return;
    if (r.outcome() == decision::won) {
      done(result<void>(r.tally()));
      return;
    }
    done({errc::no_quorum,
          "release of " + lock->name() +
              ": too few nodes confirmed; the rest expire after the ttl: " + r.summary(),
          r.tally()});
  });
}

void engine::send_release(const std::shared_ptr<lock_record>& lock, std::vector<bool> ask, rule how,
                          std::function<void(const round&)> decided) {
  if (!ask.empty() && std::none_of(ask.begin(), ask.end(), [](bool a) { return a; })) return;
  begin();
  round::spec s;
  // A lost attempt's clean-up wakes no waiter (release.lua): the lock is someone else's.
  s.what = {lock->attempt_lost ? script_call(release_script, lock->keys, {lock->token, "quiet"})
                               : script_call(release_script, lock->keys, {lock->token}),
            judge_script};
  s.how = how;
  s.ask = std::move(ask);
  s.ask_excluded = true;
  // A release is worth sending for as long as our key may live: it waits that long for room
  // in a busy node's window (releasing a burst of leases at once must not drop them).
  s.queue_budget = lock->ttl;
  auto delivered = std::make_shared<std::vector<bool>>(env_.nodes.size(), false);
  round::listener l;
  l.answered = [this, lock, delivered](std::size_t node, const node_answer& answer, vote said) {
    if (said == vote::failed) {
      if (!lock->may_hold[node]) return;
      if (permanent_failure(answer)) {
        debts_[node].give_up(1);  // e.g. NOPERM for EVALSHA: sending again cannot help
      } else {
        owe_release(node, *lock);
      }
    } else {
      (*delivered)[node] = true;
    }
  };
  l.decided = std::move(decided);
  l.complete = [this, lock, delivered](const round&) {
    // Where an earlier request of this lock timed out, it may still run after this release
    // (it was on an older connection): send the release once more a little later. Where the
    // release itself failed, it is owed instead.
    std::vector<bool> again(env_.nodes.size(), false);
    bool any = false;
    for (std::size_t i = 0; i < again.size(); ++i) {
      again[i] = lock->uncertain[i] && (*delivered)[i];
      any = any || again[i];
    }
    if (any) {
      send_again_later(
          [this, lock, again = std::move(again)] {
            lock->uncertain.assign(lock->uncertain.size(), false);  // one second send is enough
            send_release(lock, again, rule::every_answer, nullptr);
          },
          work::operation);
    }
    end();
  };
  round::run(env_, std::move(s), std::move(l));
}

// The wait counts as `kind` of work: a lease's second release keeps an async client's loop
// alive; the repeat of an owed release does not.
void engine::send_again_later(std::function<void()> send, work kind) {
  if (closing_) {
    send();
    return;
  }
  begin(kind);
  auto id = std::make_shared<scheduler::timer_id>(0);
  *id = timers_.schedule(config_.owed_release_repeat, [this, id] {
    auto it = resends_.find(*id);
    if (it == resends_.end()) return;
    auto [fn, kind_of_it] = std::move(it->second);
    resends_.erase(it);
    fn();
    end(kind_of_it);
  });
  resends_.emplace(*id, std::make_pair(std::move(send), kind));
}

// ---- releases owed to nodes ---------------------------------------------------------------

// A node that may hold our key could not be told to delete it (down, timed out, an error
// reply, too busy to take it in time): it gets the release on its next successful connect or
// healthy answer, so a paused node that comes back does not keep a dead lock for a whole ttl.
void engine::owe_release(std::size_t node, const lock_record& lock) {
  if (closing_) {
    debts_[node].give_up(1);
    return;
  }
  owe(node, {lock.keys, lock.token, saturating_add(clock_.now(), lock.ttl)});
}

void engine::owe(std::size_t node, owed_release debt) {
  debts_[node].owe(std::move(debt));
  // A node that is up but was too busy (errc::overloaded) may get no other traffic that would
  // trigger the payment: pay it a little later.
  if (payment_due_[node] || !env_.nodes[node]->status().ready) return;
  payment_due_[node] = true;
  send_again_later(
      [this, node] {
        payment_due_[node] = false;
        pay_debts(node);
      },
      work::background);
}

void engine::pay_debts(std::size_t node) {
  if (debts_[node].empty()) return;
  paid_at_[node] = clock_.now();
  steady::time_point now = clock_.now();
  for (owed_release& debt : debts_[node].take()) {
    if (debt.expires <= now) continue;  // the key is gone by itself
    send_owed(node, std::move(debt), !closing_);
  }
}

void engine::send_owed(std::size_t node, owed_release debt, bool repeat) {
  begin(work::background);
  round::spec s;
  s.what = {script_call(release_script, debt.keys, {debt.token}), judge_script};
  s.how = rule::every_answer;
  s.ask.assign(env_.nodes.size(), false);
  s.ask[node] = true;
  s.ask_excluded = true;
  s.queue_budget = std::max(debt.expires - clock_.now(), steady::duration::zero());
  round::listener l;
  l.answered = [this, node, debt](std::size_t, const node_answer& answer, vote said) {
    if (said != vote::failed) return;
    if (closing_ || permanent_failure(answer)) {
      debts_[node].give_up(1);
    } else {
      owe(node, debt);
    }
  };
  l.complete = [this, node, debt, repeat](const round&) {
    // A request that reached the node on an old connection before a pause runs when the node
    // resumes, and could run after the release just sent on the new connection. Sending the
    // release once more a little later covers that: by then the old backlog has been served.
    if (repeat) {
      send_again_later([this, node, debt] { send_owed(node, debt, false); }, work::background);
    }
    end(work::background);
  };
  round::run(env_, std::move(s), std::move(l));
}

void engine::observe(std::size_t node, const node_answer& answer) {
  if (!closing_ && !answer.error && answer.value.is_error() && is_unseeded(answer.value.text))
    seeder_->unseeded(node, answer.server);
  // A healthy answer means the node can take its owed releases now (at most once per
  // owed_release_repeat, so a node that keeps refusing them is not flooded).
  if (answer.error || answer.value.is_error() || debts_[node].empty()) return;
  if (clock_.now() - paid_at_[node] < config_.owed_release_repeat) return;
  pay_debts(node);
}

void engine::node_changed(std::size_t node) {
  if (env_.nodes[node]->status().ready) pay_debts(node);
  auto waits = ready_waits_;  // check_ready may finish some
  for (const auto& w : waits)
    check_ready(w, false);
}

// ---- readiness ----------------------------------------------------------------------------

void engine::wait_ready(steady::time_point deadline, done_callback done) {
  begin();
  auto wait = std::make_shared<ready_wait>();
  wait->deadline = deadline;
  wait->done = std::move(done);
  if (closing_) {
    timers_.defer([this, wait] {
      wait->done({errc::client_closed, "the client is closing; the readiness wait ended"});
      end();
    });
    return;
  }
  ready_waits_.push_back(wait);
  // Decided from the loop, never inside the call, even when the nodes are ready already.
  timers_.defer([this, wait] {
    if (!check_ready(wait, false)) {
      wait->timer = timers_.schedule(wait->deadline - clock_.now(),
                                     [this, wait] { check_ready(wait, true); });
    }
  });
}

// Finishes `wait` when its outcome is known; returns whether it finished.
bool engine::check_ready(const std::shared_ptr<ready_wait>& wait, bool at_deadline) {
  auto it = std::find(ready_waits_.begin(), ready_waits_.end(), wait);
  if (it == ready_waits_.end()) return true;
  std::size_t n = env_.nodes.size();
  std::vector<node_report> reports(n);
  std::size_t voting = 0, permanent = 0;
  steady::time_point first_quarantine_end = steady::time_point::max();
  for (std::size_t i = 0; i < n; ++i) {
    const link_status& s = env_.nodes[i]->status();
    node_report& r = reports[i];
    r.endpoint = env_.nodes[i]->name();
    exclusion ex = excluded(i);
    if (ex.error) {
      r.vote = vote::failed;
      r.error = ex.error;
      r.detail = ex.detail;
      if (is_permanent(ex.error)) ++permanent;
      if (ex.error == errc::quarantined)
        first_quarantine_end = std::min(first_quarantine_end, s.quarantined_until);
    } else if (s.ready) {
      r.vote = vote::granted;
      ++voting;
    } else if (s.last_error) {
      r.vote = vote::failed;
      r.error = s.last_error;
      r.detail = s.last_detail;
      if (s.last_error == errc::config_refused) ++permanent;
    }
  }
  std::size_t needed = env_.majority();
  result<void> outcome;
  if (voting >= needed && !closing_) {
    outcome = result<void>(tally(std::move(reports), 1));
  } else if (permanent + needed > n || at_deadline || closing_) {
    errc code = closing_                 ? errc::client_closed
                : permanent + needed > n ? errc::misconfigured
                                         : errc::no_quorum;
    std::string message = std::to_string(voting) + " of " + std::to_string(n) +
                          " nodes are connected and may vote, " + std::to_string(needed) +
                          " needed";
    for (const node_report& r : reports) {
      if (r.vote == vote::granted) continue;
      message += "; " + r.endpoint + ": " +
                 (r.error ? r.error.message() + (r.detail.empty() ? "" : ": " + r.detail)
                          : std::string("still connecting"));
    }
    outcome = result<void>(code, std::move(message), tally(std::move(reports), 1));
  } else {
    // A quarantine ends without a change of the node: check again then.
    if (first_quarantine_end < wait->deadline) {
      if (wait->quarantine_end != 0) timers_.cancel(wait->quarantine_end);
      wait->quarantine_end = timers_.schedule(first_quarantine_end - clock_.now(), [this, wait] {
        wait->quarantine_end = 0;
        check_ready(wait, false);
      });
    }
    return false;
  }
  ready_waits_.erase(it);
  if (wait->timer != 0) timers_.cancel(wait->timer);
  if (wait->quarantine_end != 0) timers_.cancel(wait->quarantine_end);
  auto done = std::move(wait->done);
  done(std::move(outcome));
  end();
  return true;
}

// ---- shutdown -----------------------------------------------------------------------------

void engine::shutdown() {
  closing_ = true;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& entry : waiting) {
    timers_.cancel(entry.first);
    entry.second->next_attempt = 0;
    timers_.defer([this, op = entry.second] {
      if (live_.count(op->id) == 0) return;  // cancelled meanwhile: completed once already
      complete(op,
               {errc::client_closed,
                "the client closed while acquire of " + quoted(op->resources) + " waited to retry",
                op->last_tally});
    });
  }
  // Queued extension batches end now (client_closed, by extend()'s early outcome).
  auto batches = std::move(queued_batches_);
  queued_batches_.clear();
  for (auto& batch : batches) {
    extend_many(std::move(batch));
    end();
  }
  // What is owed goes out now, while the connections still live; what cannot be delivered
  // before they close is counted as given up.
  auto resends = std::move(resends_);
  resends_.clear();
  for (auto& [id, resend] : resends) {
    timers_.cancel(id);
    resend.first();
    end(resend.second);
  }
  for (std::size_t i = 0; i < debts_.size(); ++i)
    pay_debts(i);
  auto waits = ready_waits_;
  for (const auto& w : waits)
    timers_.defer([this, w] { check_ready(w, false); });
}

}  // namespace redlock::detail
