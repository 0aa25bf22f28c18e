#include "engine.hpp"

#include <cstdio>
#include <utility>

#include "quorum.hpp"
#include "scripts.hpp"
#include "token.hpp"

namespace redlock::detail {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct engine::round {
  round(std::size_t nodes, steady::time_point started)
      : start(started), votes(nodes), reports(nodes) {}
  steady::time_point start;
  vote_counter votes;
  std::vector<node_report> reports;
  bool decided = false;
};

struct engine::acquire_op {
  std::string resource;
  acquire_options options;
  steady::time_point deadline;  // first attempt + wait
  int attempts = 0;
  acquire_callback done;
  tally last_tally;  // of the last finished round, for a shutdown while waiting
};

namespace {

std::shared_ptr<const command> script_command(const script& s, std::string_view key,
                                              std::string_view token, std::string_view extra = {}) {
  auto cmd = std::make_shared<command>();
  cmd->wire = extra.empty() ? encode_command({"EVALSHA", s.sha1, "1", key, token})
                            : encode_command({"EVALSHA", s.sha1, "1", key, token, extra});
  cmd->script_source = s.source;
  return cmd;
}

// Fills `report` from a node's answer and returns the vote; `granted_reply` tells whether a
// successful reply means yes (SET's OK, a script's 1) and `refused_reply` whether it means no.
template <class IsGranted, class IsRefused>
vote record_answer(node_report& report, const node_answer& answer, IsGranted is_granted,
                   IsRefused is_refused) {
  report.latency = answer.latency;
  if (answer.error) {
    report.vote = vote::failed;
    report.error = answer.error;
    report.detail = answer.detail;
  } else if (is_granted(answer.value)) {
    report.vote = vote::granted;
  } else if (is_refused(answer.value)) {
    report.vote = vote::refused;
  } else if (answer.value.is_error()) {
    report.vote = vote::failed;
    report.error = errc::server_error;
    report.detail = answer.value.text;
  } else {
    report.vote = vote::failed;
    report.error = errc::unexpected_reply;
    report.detail = answer.value.describe();
  }
  return report.vote;
}

vote record_set_answer(node_report& report, const node_answer& answer) {
  return record_answer(
      report, answer, [](const reply& r) { return r.is_status("OK"); },
      [](const reply& r) { return r.kind == reply::type::nil; });
}

vote record_script_answer(node_report& report, const node_answer& answer) {
  return record_answer(
      report, answer,
      [](const reply& r) { return r.kind == reply::type::integer && r.integer == 1; },
      [](const reply& r) { return r.kind == reply::type::integer && r.integer == 0; });
}

std::string quoted(std::string_view resource) {
  std::string out = "'";
  for (char ch : resource) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

std::string millis(nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

// "2 of 5 granted, 1 refused, 2 failed (redis://h:1: node is down: Connection refused; ...)"
std::string summarize(const std::vector<node_report>& reports) {
  std::size_t granted = 0, refused = 0, failed = 0, unanswered = 0;
  std::string failures;
  for (const auto& r : reports) {
    switch (r.vote) {
      case vote::granted:
        ++granted;
        break;
      case vote::refused:
        ++refused;
        break;
      case vote::unanswered:
        ++unanswered;
        break;
      case vote::failed:
        ++failed;
        if (!failures.empty()) failures += "; ";
        failures += r.endpoint + ": " + r.error.message();
        if (!r.detail.empty()) failures += ": " + r.detail;
        break;
    }
  }
  std::string out = std::to_string(granted) + " of " + std::to_string(reports.size()) +
                    " nodes granted, " + std::to_string(refused) + " refused, " +
                    std::to_string(failed) + " failed";
  if (unanswered > 0) out += ", " + std::to_string(unanswered) + " unanswered";
  if (!failures.empty()) out += " (" + failures + ")";
  return out;
}

}  // namespace

engine::engine(engine_config config, std::vector<node_link*> nodes, const clock& clock,
               scheduler& timers)
    : config_(std::move(config)),
      nodes_(std::move(nodes)),
      clock_(clock),
      timers_(timers),
      rng_(config_.seed),
      debts_(nodes_.size()) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i]->on_ready([this, i] { pay_debts(i); });
  }
}

std::string engine::key_of(std::string_view resource) const {
  std::string key = config_.key_prefix;
  key.append(resource.data(), resource.size());
  return key;
}

std::shared_ptr<engine::round> engine::new_round() const {
  auto r = std::make_shared<round>(nodes_.size(), clock_.now());
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    r->reports[i].endpoint = nodes_[i]->name();
  return r;
}

void engine::begin() {
  if (in_flight_++ == 0 && activity_) activity_(true);
}

void engine::end() {
  if (--in_flight_ == 0 && activity_) activity_(false);
}

// ---- acquire ------------------------------------------------------------------------------

void engine::acquire(std::string resource, const acquire_options& options, acquire_callback done) {
  auto op = std::make_shared<acquire_op>();
  op->resource = std::move(resource);
  op->options = options;
  op->deadline = saturating_add(clock_.now(), options.wait);
  op->done = std::move(done);
  begin();
  if (closing_) {
    timers_.defer([this, op] {
      op->done({errc::client_closed,
                "the client is closing; acquire of " + quoted(op->resource) + " was not started"});
      end();
    });
    return;
  }
  start_attempt(op);
}

void engine::start_attempt(const std::shared_ptr<acquire_op>& op) {
  ++op->attempts;
  auto lock = std::make_shared<lock_record>(op->resource, key_of(op->resource), random_token(),
                                            op->options.ttl, nodes_.size());
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command(
      {"SET", lock->key, lock->token, "NX", "PX", std::to_string(op->options.ttl.count())});
  auto r = new_round();
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i]->send(cmd, [this, op, r, lock, i](node_answer answer) {
      on_acquire_vote(op, r, lock, i, std::move(answer));
    });
  }
}

void engine::on_acquire_vote(const std::shared_ptr<acquire_op>& op, const std::shared_ptr<round>& r,
                             const std::shared_ptr<lock_record>& lock, std::size_t node,
                             node_answer answer) {
  vote v = record_set_answer(r->reports[node], answer);
  if (v == vote::granted || (v == vote::failed && answer.maybe_ran)) lock->may_hold[node] = true;
  // A late answer changes nothing: after a lost round the release is already queued behind
  // this SET on the same connection (and owed if that fails); after a won round the node is
  // in may_hold, so the lease's release reaches it.
  if (r->decided) return;
  r->votes.record(v);
  switch (r->votes.state()) {
    case decision::pending:
      return;
    case decision::lost: {
      r->decided = true;
      errc code = r->votes.refusals_decide() ? errc::held_elsewhere : errc::no_quorum;
      std::string what = code == errc::held_elsewhere
                             ? quoted(op->resource) + " is held by another owner: "
                             : "no majority for " + quoted(op->resource) + ": ";
      finish_attempt(op, r, lock, code, what + summarize(r->reports));
      return;
    }
    case decision::won: {
      r->decided = true;
      steady::time_point now = clock_.now();
      steady::time_point valid_until =
          validity_deadline(r->start, op->options.ttl, config_.drift_factor);
      if (valid_until <= now) {
        finish_attempt(op, r, lock, errc::validity_spent,
                       "a majority granted " + quoted(op->resource) + " after " +
                           millis(now - r->start) + ", which spent the validity of ttl " +
                           millis(op->options.ttl) + " minus drift " +
                           millis(drift_allowance(op->options.ttl, config_.drift_factor)) + ": " +
                           summarize(r->reports));
        return;
      }
      lock->set_valid_until(valid_until);
      // Nodes that have not answered yet may still set the key: they get the lease's release.
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (r->reports[i].vote == vote::unanswered) lock->may_hold[i] = true;
      }
      auto done = std::move(op->done);
      done(result<std::shared_ptr<lock_record>>(lock, tally(r->reports, op->attempts)));
      end();
      return;
    }
  }
}

void engine::finish_attempt(const std::shared_ptr<acquire_op>& op, const std::shared_ptr<round>& r,
                            const std::shared_ptr<lock_record>& lock, std::error_code error,
                            std::string message) {
  // Nodes that have not answered may still set the key when our SET reaches them: release
  // there too (the release runs after the SET on the same connection).
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (r->reports[i].vote == vote::unanswered) lock->may_hold[i] = true;
  }
  clean_up(lock);
  op->last_tally = tally(r->reports, op->attempts);

  nanoseconds delay = config_.retry_delay;
  if (config_.retry_jitter.count() > 0) {
    std::uniform_int_distribution<nanoseconds::rep> jitter(
        0, nanoseconds(config_.retry_jitter).count());
    delay += nanoseconds(jitter(rng_));
  }
  if (!closing_ && op->attempts < op->options.max_attempts && clock_.now() + delay < op->deadline) {
    auto id = std::make_shared<scheduler::timer_id>(0);
    *id = timers_.schedule(delay, [this, op, id] {
      waiting_.erase(*id);
      start_attempt(op);
    });
    waiting_.emplace(*id, op);
    return;
  }
  if (op->attempts > 1) message += " (after " + std::to_string(op->attempts) + " attempts)";
  auto done = std::move(op->done);
  done({error, std::move(message), op->last_tally});
  end();
}

// ---- extend -------------------------------------------------------------------------------

void engine::extend(std::shared_ptr<lock_record> lock, milliseconds ttl, done_callback done) {
  begin();
  steady::time_point old_valid_until = lock->valid_until();
  std::error_code early;
  std::string why;
  if (lock->released) {
    early = errc::empty_lease;
    why = "the lease of " + quoted(lock->resource) + " was already released";
  } else if (closing_) {
    early = errc::client_closed;
    why = "the client is closing; extend of " + quoted(lock->resource) + " was not started";
  } else if (clock_.now() >= old_valid_until) {
    early = errc::lock_lost;
    why = "the lease of " + quoted(lock->resource) + " expired before extend";
  }
  if (early) {
    timers_.defer([this, done = std::move(done), early, why = std::move(why)] {
      done({early, why});
      end();
    });
    return;
  }
  auto cmd = script_command(extend_script, lock->key, lock->token, std::to_string(ttl.count()));
  auto r = new_round();
  auto shared_done = std::make_shared<done_callback>(std::move(done));
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i]->send(cmd, [this, r, lock, ttl, old_valid_until, i, shared_done](node_answer answer) {
      on_extend_vote(r, lock, ttl, old_valid_until, i, std::move(answer), *shared_done);
    });
  }
}

void engine::on_extend_vote(const std::shared_ptr<round>& r,
                            const std::shared_ptr<lock_record>& lock, milliseconds ttl,
                            steady::time_point old_valid_until, std::size_t node,
                            node_answer answer, const done_callback& done) {
  vote v = record_script_answer(r->reports[node], answer);
  if (v == vote::granted) lock->may_hold[node] = true;
  if (r->decided) return;
  r->votes.record(v);
  decision d = r->votes.state();
  if (d == decision::pending) return;
  r->decided = true;
  tally t(r->reports, 1);
  std::string what = "extend of " + quoted(lock->resource) + ": ";
  if (d == decision::lost) {
    if (r->votes.refusals_decide()) {
      done({errc::lock_lost,
            what + "a majority no longer holds our token: " + summarize(r->reports), t});
    } else {
      done({errc::no_quorum,
            what + "no majority answered; the lease keeps its validity: " + summarize(r->reports),
            t});
    }
    end();
    return;
  }
  steady::time_point now = clock_.now();
  steady::time_point valid_until = validity_deadline(r->start, ttl, config_.drift_factor);
  if (now >= old_valid_until) {
    done({errc::lock_lost, what + "the majority answered after the lease had expired", t});
  } else if (valid_until <= now) {
    done({errc::validity_spent,
          what + "a majority answered after " + millis(now - r->start) +
              ", which spent the new validity; the lease keeps its current one",
          t});
  } else {
    lock->ttl = ttl;
    lock->set_valid_until(valid_until);
    done(result<void>(t));
  }
  end();
}

// ---- release ------------------------------------------------------------------------------

std::shared_ptr<const command> engine::release_command(const lock_record& lock) const {
  return script_command(release_script, lock.key, lock.token);
}

void engine::release(std::shared_ptr<lock_record> lock, done_callback done) {
  begin();
  if (lock->released) {
    timers_.defer([this, done = std::move(done), resource = lock->resource] {
      if (done)
        done({errc::empty_lease, "the lease of " + quoted(resource) + " was already released"});
      end();
    });
    return;
  }
  lock->released = true;
  auto cmd = release_command(*lock);
  auto r = new_round();
  auto shared_done = std::make_shared<done_callback>(std::move(done));
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i]->send(cmd, [this, r, lock, i, shared_done](node_answer answer) {
      vote v = record_script_answer(r->reports[i], answer);
      if (v == vote::failed && lock->may_hold[i]) owe_release(i, *lock);
      r->votes.record(v);
      // Decided once a majority confirmed our key is gone (the lock is free for others), or
      // once that can no longer happen. A paused node does not hold up the caller: its answer
      // (or its owed release) comes later; the operation counts as in flight until then.
      std::size_t confirmed = r->votes.granted() + r->votes.refused();
      std::size_t quorum = quorum_of(nodes_.size());
      if (!r->decided && (confirmed >= quorum || r->votes.failed() > nodes_.size() - quorum)) {
        r->decided = true;
        if (*shared_done) {
          tally t(r->reports, 1);
          if (confirmed >= quorum) {
            (*shared_done)(result<void>(t));
          } else {
            (*shared_done)({errc::no_quorum,
                            "release of " + quoted(lock->resource) +
                                ": too few nodes confirmed; the rest expire after the ttl: " +
                                summarize(r->reports),
                            t});
          }
        }
      }
      if (r->votes.complete()) end();
    });
  }
}

void engine::clean_up(const std::shared_ptr<lock_record>& lock) {
  lock->released = true;
  std::shared_ptr<const command> cmd;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!lock->may_hold[i]) continue;
    if (!cmd) cmd = release_command(*lock);
    begin();
    nodes_[i]->send(cmd, [this, lock, i](node_answer answer) {
      if (answer.error || answer.value.is_error()) owe_release(i, *lock);
      end();
    });
  }
}

// A node that may hold our key could not be told to delete it (down, timed out): it gets the
// release when it reconnects, so a paused node that comes back does not keep a dead lock for a
// whole ttl. The list is bounded; the oldest entries go first (their keys expire anyway).
void engine::owe_release(std::size_t node, const lock_record& lock) {
  if (closing_) return;
  auto& debts = debts_[node];
  if (debts.size() >= config_.max_debt_per_node) debts.pop_front();
  debts.emplace_back(lock.key, lock.token);
}

void engine::pay_debts(std::size_t node) {
  auto debts = std::move(debts_[node]);
  debts_[node].clear();
  if (debts.empty()) return;
  send_owed(node, debts);
  // A request that reached the node on its old connection before a pause runs when the node
  // resumes, and could run after the release just sent on the new connection. Sending the
  // releases once more a little later covers that: by then the old backlog has been served.
  timers_.schedule(config_.owed_release_repeat, [this, node, debts = std::move(debts)] {
    if (!closing_) send_owed(node, debts);
  });
}

void engine::send_owed(std::size_t node,
                       const std::deque<std::pair<std::string, std::string>>& debts) {
  for (const auto& [key, token] : debts) {
    auto cmd = script_command(release_script, key, token);
    nodes_[node]->send(cmd, [this, node, key = key, token = token](node_answer answer) {
      if (!(answer.error || answer.value.is_error()) || closing_) return;
      auto& d = debts_[node];
      if (d.size() < config_.max_debt_per_node) d.emplace_back(key, token);
    });
  }
}

// ---- shutdown -----------------------------------------------------------------------------

void engine::shutdown() {
  closing_ = true;
  for (auto& debts : debts_)
    debts.clear();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& entry : waiting) {
    timers_.cancel(entry.first);
    timers_.defer([this, op = entry.second] {
      auto done = std::move(op->done);
      done({errc::client_closed,
            "the client closed while acquire of " + quoted(op->resource) + " waited to retry",
            op->last_tally});
      end();
    });
  }
}

}  // namespace redlock::detail
