#include "round.hpp"

#include <cstdio>
#include <utility>

namespace redlock::detail {

bool is_permanent(std::error_code e) {
  return e == errc::config_refused || e == errc::duplicate_server || e == errc::unsafe_server;
}

bool permanent_failure(const node_answer& answer) {
  if (answer.error) return is_permanent(answer.error);
  return answer.value.is_error() && refuses_configuration(answer.value.text);
}

round::round(round_env& env, spec s, listener l, std::size_t voters)
    : env_(env),
      spec_(std::move(s)),
      listener_(std::move(l)),
      start_(spec_.started ? *spec_.started : env.time->now()),
      votes_(spec_.how, voters, env.majority()),
      reports_(env.nodes.size()),
      values_(env.nodes.size()),
      asked_(env.nodes.size(), spec_.ask.empty()),
      voted_server_(env.nodes.size()) {
  for (std::size_t i = 0; i < env.nodes.size(); ++i) {
    reports_[i].endpoint = env.nodes[i]->name();
    if (!spec_.ask.empty()) asked_[i] = spec_.ask[i];
    if (!asked_[i]) reports_[i].detail = "not asked in this step";
  }
}

std::shared_ptr<round> round::run(round_env& env, spec s, listener l) {
  std::size_t voters = env.nodes.size();
  if (!s.ask.empty()) {
    voters = 0;
    for (bool a : s.ask)
      voters += a ? 1 : 0;
  }
  auto r = std::make_shared<round>(env, std::move(s), std::move(l), voters);
  r->begin();
  return r;
}

std::shared_ptr<round> round::then(round_env& env, const round& first, step what, rule how,
                                   listener l, std::chrono::nanoseconds queue_budget) {
  spec s;
  s.queue_budget = queue_budget;
  s.what = std::move(what);
  s.how = how;
  s.ask = first.granted_nodes();
  s.started = first.start();
  s.check_exclusions = false;  // they passed the first step's checks: one vote per server
  return run(env, std::move(s), std::move(l));
}

void round::begin() {
  auto self = shared_from_this();
  for (std::size_t i = 0; i < env_.nodes.size(); ++i) {
    if (!asked_[i]) continue;
    exclusion ex = env_.excluded && spec_.check_exclusions ? env_.excluded(i) : exclusion{};
    if (ex.error) {
      reports_[i].vote = vote::failed;
      reports_[i].error = ex.error;
      reports_[i].detail = ex.detail;
      votes_.record(vote::failed, is_permanent(ex.error));
      if (!spec_.ask_excluded) continue;
    }
    ++waiting_;
    env_.nodes[i]->send(
        spec_.what.cmd,
        [self, i, excluded = bool(ex.error)](node_answer answer) {
          self->on_answer(i, excluded, std::move(answer));
        },
        spec_.queue_budget);
  }
  // Listeners never run inside run(): an outcome known already (every node excluded, or none
  // asked) is told from the loop.
  if (votes_.state() != decision::pending || waiting_ == 0) {
    env_.timers->defer([self] {
      if (self->outcome_ == decision::pending) self->decide();
      self->finish_if_complete();
    });
  }
}

vote round::judge(std::size_t node, const node_answer& answer, bool& permanent) {
  node_report& report = reports_[node];
  report.latency = answer.latency;
  report.error = {};
  report.detail.clear();
  permanent = false;
  if (answer.error) {
    report.error = answer.error;
    report.detail = answer.detail;
    permanent = is_permanent(answer.error);
    return vote::failed;
  }
  if (answer.value.is_error()) {
    permanent = permanent_failure(answer);
    report.error = permanent ? errc::config_refused : errc::server_error;
    report.detail = answer.value.text;
    return vote::failed;
  }
  vote said = spec_.what.judge(answer.value, values_[node]);
  if (said == vote::failed) {
    report.error = errc::unexpected_reply;
    report.detail = answer.value.describe();
  }
  return said;
}

void round::on_answer(std::size_t node, bool excluded_at_start, node_answer answer) {
  if (env_.observe) env_.observe(node, answer);
  if (needs_acknowledgement(excluded_at_start, answer)) {
    ask_replicas(node, std::move(answer));
    return;
  }
  count(node, excluded_at_start, answer, {});
}

bool round::needs_acknowledgement(bool excluded_at_start, const node_answer& answer) const {
  if (env_.ack_replicas <= 0 || !spec_.what.replicated || excluded_at_start) return false;
  // Once decided, a late grant no longer counts: it needs its release, not a wait.
  if (outcome_ != decision::pending || answer.error || answer.value.is_error()) return false;
  std::optional<std::uint64_t> unused;
  return spec_.what.judge(answer.value, unused) == vote::granted;
}

namespace {

bool version_at_least(const std::string& version, int major, int minor) {
  int found_major = 0, found_minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &found_major, &found_minor) != 2) return false;
  return found_major > major || (found_major == major && found_minor >= minor);
}

// What the WAIT (or WAITAOF) answer says of the write: an empty error when enough replicas
// (and, for WAITAOF, the master's own disk) have it, with the detail saying so.
exclusion judge_acknowledgement(const node_answer& ack, const std::string& asked, int wanted,
                                bool aof) {
  if (ack.error) return {ack.error, asked + " after the grant: " + ack.detail};
  const reply& r = ack.value;
  if (r.is_error()) {
    return {
        make_error_code(refuses_configuration(r.text) ? errc::config_refused : errc::server_error),
        asked + " refused: " + r.text};
  }
  long long replicas = -1, local = 1;
  if (!aof && r.kind == reply::type::integer) {
    replicas = r.integer;
  } else if (aof && r.kind == reply::type::array && r.elements.size() == 2 &&
             r.elements[0].kind == reply::type::integer &&
             r.elements[1].kind == reply::type::integer) {
    local = r.elements[0].integer;
    replicas = r.elements[1].integer;
  } else {
    return {make_error_code(errc::unexpected_reply), asked + " answered " + r.describe()};
  }
  std::string counted = std::to_string(replicas) + " of " + std::to_string(wanted) +
                        " replicas acknowledged" +
                        (aof && local < 1 ? ", not on its own disk" : "");
  if (replicas >= wanted && local >= 1) return {{}, asked + ": " + counted};
  return {make_error_code(errc::not_replicated), asked + ": only " + counted};
}

}  // namespace

// WAITAOF (Redis 7.2) also waits for the master's own append-only file, where it has one.
void round::ask_replicas(std::size_t node, node_answer answer) {
  const server_info* server = answer.server.get();
  bool aof =
      server != nullptr && server->aof_enabled && version_at_least(server->redis_version, 7, 2);
  std::string wanted = std::to_string(env_.ack_replicas);
  std::string timeout = std::to_string(env_.ack_timeout.count());
  auto cmd = std::make_shared<command>();
  cmd->wire = aof ? encode_command({"WAITAOF", "1", wanted, timeout})
                  : encode_command({"WAIT", wanted, timeout});
  std::string asked =
      aof ? "WAITAOF 1 " + wanted + " " + timeout : "WAIT " + wanted + " " + timeout;
  auto self = shared_from_this();
  env_.nodes[node]->send(
      std::move(cmd),
      [self, node, answer = std::move(answer), asked, aof](node_answer ack) {
        self->count(node, false, answer,
                    judge_acknowledgement(ack, asked, self->env_.ack_replicas, aof));
      },
      spec_.queue_budget);
}

void round::count(std::size_t node, bool excluded_at_start, const node_answer& answer,
                  const exclusion& replicas) {
  --waiting_;
  bool permanent = false;
  node_report report_before = excluded_at_start ? reports_[node] : node_report{};
  std::optional<std::uint64_t> value_before = values_[node];
  vote reply_vote = judge(node, answer, permanent);
  vote counted_vote = reply_vote;
  if (excluded_at_start) {
    // Its vote was counted (failed) at the start; the answer only tells the listener.
    reports_[node] = std::move(report_before);
    values_[node] = value_before;
  } else {
    std::string refused_grant = reply_vote == vote::granted && spec_.what.vet != nullptr
                                    ? spec_.what.vet(answer.value, answer.server.get())
                                    : std::string();
    if (!refused_grant.empty()) {
      counted_vote = vote::failed;
      reports_[node].error = errc::server_error;
      reports_[node].detail = std::move(refused_grant);
    } else if (replicas.error) {
      counted_vote = vote::failed;
      permanent = is_permanent(replicas.error);
      reports_[node].error = replicas.error;
      reports_[node].detail = replicas.detail;
    } else if (!replicas.detail.empty()) {
      reports_[node].detail = replicas.detail;
    }
    if (counted_vote != vote::failed && env_.excluded && spec_.check_exclusions) {
      // The node may have connected after the round started, and its handshake may show a
      // server that must not vote (restarted recently, settings that lose keys): checked
      // again at its answer. The listener still hears the reply's own vote (our key may be
      // there, and gets the clean-up or the release).
      exclusion ex = env_.excluded(node);
      if (ex.error) {
        counted_vote = vote::failed;
        permanent = is_permanent(ex.error);
        reports_[node].error = ex.error;
        reports_[node].detail = ex.detail;
      }
    }
    if (counted_vote != vote::failed && answer.server && !answer.server->run_id.empty()) {
      for (std::size_t j = 0; j < voted_server_.size(); ++j) {
        if (j == node || !voted_server_[j] || voted_server_[j]->run_id != answer.server->run_id)
          continue;
        counted_vote = vote::failed;
        permanent = true;
        reports_[node].error = errc::duplicate_server;
        reports_[node].detail =
            "same server (run_id " + answer.server->run_id + ") as " + env_.nodes[j]->name();
        break;
      }
      if (counted_vote != vote::failed) voted_server_[node] = answer.server;
    }
    reports_[node].vote = counted_vote;
    votes_.record(counted_vote, permanent);
  }
  if (listener_.answered) listener_.answered(node, answer, reply_vote);
  if (outcome_ == decision::pending && votes_.state() != decision::pending) decide();
  finish_if_complete();
}

void round::decide() {
  outcome_ = votes_.state();
  // A node that has not answered but whose last handshake was refused is reported with that
  // reason: its request is waiting for a connection that keeps failing.
  for (std::size_t i = 0; i < reports_.size(); ++i) {
    node_report& report = reports_[i];
    if (!asked_[i] || report.vote != vote::unanswered) continue;
    const link_status& status = env_.nodes[i]->status();
    if (!status.ready && status.last_error) {
      report.error = status.last_error;
      report.detail = status.last_detail;
    }
  }
  if (listener_.decided) listener_.decided(*this);
}

void round::finish_if_complete() {
  if (waiting_ > 0 || completed_ || outcome_ == decision::pending) return;
  completed_ = true;
  auto l = std::move(listener_);  // frees what the listener holds once the round is over
  listener_ = {};
  if (l.complete) l.complete(*this);
}

std::vector<bool> round::granted_nodes() const {
  std::vector<bool> out(reports_.size(), false);
  for (std::size_t i = 0; i < reports_.size(); ++i)
    out[i] = reports_[i].vote == vote::granted;
  return out;
}

redlock::tally round::tally(int attempts) const {
  return redlock::tally(reports_, attempts);
}

std::string round::summary() const {
  return summarize(reports_, asked_);
}

std::string summarize(const std::vector<node_report>& reports, const std::vector<bool>& asked) {
  std::size_t granted = 0, refused = 0, failed = 0, unanswered = 0;
  std::string failures;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const node_report& r = reports[i];
    if (!asked[i]) continue;
    switch (r.vote) {
      case vote::granted:
        ++granted;
        break;
      case vote::refused:
        ++refused;
        break;
      case vote::unanswered:
        ++unanswered;
        if (r.error) {
          if (!failures.empty()) failures += "; ";
          failures += r.endpoint + ": unanswered, last error: " + r.error.message();
          if (!r.detail.empty()) failures += ": " + r.detail;
        }
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

}  // namespace redlock::detail
