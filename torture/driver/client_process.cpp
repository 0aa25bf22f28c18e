#include "client_process.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "counter_store.hpp"
#include "recorder.hpp"
#include "redlock/client.hpp"
#include "redlock/error.hpp"
#include "test_knobs.hpp"

namespace redlock::torture {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_sigterm(int) {
  stop_requested = 1;
}

// Where a lease's on_lost writes its record: the token is known only once acquire returned,
// so a signal that fires before then waits here.
struct lost_slot {
  std::mutex mutex;
  std::shared_ptr<recorder> out;
  std::string token;
  std::string pending_cause;
  bool written = false;

  void signal(const std::string& cause) {
    std::lock_guard<std::mutex> hold(mutex);
    if (written) return;
    if (token.empty()) {
      pending_cause = cause;
      return;
    }
    written = true;
    out->write(lost_signal{token, cause});
  }
  void granted(const std::string& t) {
    std::lock_guard<std::mutex> hold(mutex);
    token = t;
    if (!pending_cause.empty() && !written) {
      written = true;
      out->write(lost_signal{token, pending_cause});
    }
  }
};

struct held_lease {
  lease held;
  bool fenced = false;
  bool auto_extended = false;
  time_point recorded_until;  // the validity the history holds for it
  milliseconds ttl{0};        // the acquire's, which the auto-extensions use
};

struct dropped_lease {
  lease held;
  time_point forget_at;
};

std::string words(const tally& t) {
  return std::to_string(t.granted()) + " granted, " + std::to_string(t.refused()) + " refused, " +
         std::to_string(t.failed()) + " failed, " + std::to_string(t.unanswered()) +
         " unanswered of " + std::to_string(t.nodes().size());
}

std::string error_name(const result_base& r) {
  return to_string(static_cast<errc>(r.error().value()));
}

class client_loop {
 public:
  client_loop(const run_options& o, client locks, std::shared_ptr<recorder> out)
      : o_(o),
        locks_(std::move(locks)),
        out_(std::move(out)),
        rng_(o.seed),
        link_(o.store_port, milliseconds(500)),
        store_(link_) {}

  void run() {
    while (stop_requested == 0) {
      refresh_auto_extended();
      forget_dropped();
      step();
      std::this_thread::sleep_for(milliseconds(uniform(0, 15)));
    }
    for (auto& h : held_)
      release(h.held);
    held_.clear();
    // Destroying a lease releases it: one still valid by its history is released as a
    // recorded call, so that its claim ends there (a silent release would let the next
    // holder in while the history says this one still holds).
    for (auto& d : dropped_)
      if (steady_clock::now() < d.forget_at) release(d.held);
    dropped_.clear();
  }

 private:
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::string resource(std::size_t i) const { return "r" + std::to_string(i + 1); }
  milliseconds random_ttl() { return milliseconds(uniform(min_ttl.count(), max_ttl.count())); }

  void step() {
    if (held_.empty() || (held_.size() < 2 && chance(0.35))) return acquire();
    std::size_t pick =
        static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(held_.size()) - 1));
    held_lease& h = held_[pick];
    double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (steady_clock::now() >= h.recorded_until) roll = 0.9;  // expired: release or drop it
    if (roll < 0.45) return work(h);
    if (roll < 0.60) return extend(h, pick);
    if (roll < 0.70) return check(h, pick);
    if (roll < 0.95 || h.auto_extended) {
      release(h.held);
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(pick));
      return;
    }
    dropped_.push_back({std::move(h.held), h.recorded_until + std::chrono::milliseconds(100)});
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(pick));
  }

  void acquire() {
    std::vector<std::string> names;
    std::size_t first =
        static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(o_.resources) - 1));
    names.push_back(resource(first));
    if (o_.resources >= 2 && chance(0.15)) {
      std::size_t second =
          (first + 1 +
           static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(o_.resources) - 2))) %
          o_.resources;
      names.push_back(resource(second));
    }
    acquire_options a;
    a.ttl = random_ttl();
    a.wait = chance(0.5) ? milliseconds(0) : milliseconds(uniform(50, max_wait.count()));
    a.fencing = o_.fencing != 0 && chance(o_.effects == effect_mode::fenced ? 0.7 : 0.3);
    const bool auto_extended = chance(0.2);
    if (auto_extended) {
      a.auto_extend.enabled = true;
      a.auto_extend.max_hold = milliseconds(uniform(1000, 4000));
    }
    auto slot = std::make_shared<lost_slot>();
    slot->out = out_;
    a.on_lost = [slot](const lease_lost& why) { slot->signal(to_string(why.why)); };

    const std::uint64_t id = ++call_;
    out_->write(acquire_call(id, names, a.ttl, a.wait, a.fencing));
    result<lease> r =
        names.size() == 1 ? locks_.acquire(names[0], a) : locks_.acquire_all(names, a);
    if (!r) {
      out_->write(failure{id, error_name(r), r.message(), std::nullopt});
      return;
    }
    held_lease h{std::move(*r), a.fencing, auto_extended, {}, a.ttl};
    h.recorded_until = h.held.valid_until();
    out_->write(success{id, h.held.token(), h.recorded_until, h.held.fence(), words(r.tally())});
    slot->granted(h.held.token());
    held_.push_back(std::move(h));
  }

  // Read-sleep-write on each of the lease's counters, inside the validity the history holds.
  void work(held_lease& h) {
    if (o_.effects == effect_mode::fenced && !h.fenced) return;
    for (const std::string& name : h.held.resources()) {
      const milliseconds nap(uniform(2, 10));
      if (h.held.lost() || steady_clock::now() + nap + 2 * write_margin >= h.recorded_until) return;
      auto read = store_.read(name);
      if (!read) return;
      std::this_thread::sleep_for(nap);
      const time_point sent = steady_clock::now();
      if (h.held.lost() || sent + write_margin >= h.recorded_until) return;
      write_result w = h.fenced
                           ? store_.write_fenced(name, *read + 1, *h.held.fence(), h.held.token())
                           : store_.write(name, *read + 1);
      effect e;
      e.token = h.held.token();
      e.resource = name;
      e.read = *read;
      e.wrote = *read + 1;
      e.fence = h.fenced ? h.held.fence() : std::nullopt;
      e.accepted = w == write_result::accepted;
      e.sent = sent;
      out_->write(e);
    }
  }

  void extend(held_lease& h, std::size_t pick) {
    // An auto-extended lease is extended by the library with its own ttl, unrecorded (the
    // client may be blocked in another call then): a longer manual extend would make that next
    // extension move the validity earlier than the history holds, and the checker would see
    // an overlap the lock never had. Such leases are extended by hand to at most their ttl.
    milliseconds ttl = random_ttl();
    if (h.auto_extended) ttl = std::min(ttl, h.ttl);
    const std::uint64_t id = ++call_;
    out_->write(extend_call(id, h.held.token(), ttl));
    record_outcome(h, pick, id, h.held.extend(ttl));
  }

  void check(held_lease& h, std::size_t pick) {
    const std::uint64_t id = ++call_;
    out_->write(check_call(id, h.held.token()));
    record_outcome(h, pick, id, h.held.check_ownership());
  }

  // The completion of an extend or check of `h`: either way with the validity the library
  // reports now (a failure may have shortened it); a lease found lost is dropped.
  template <class T>
  void record_outcome(held_lease& h, std::size_t pick, std::uint64_t id, const result<T>& r) {
    h.recorded_until = h.held.valid_until();
    if (r) {
      out_->write(success{id, h.held.token(), h.recorded_until, std::nullopt, words(r.tally())});
      return;
    }
    out_->write(failure{id, error_name(r), r.message(), h.recorded_until});
    if (r.error() == errc::lock_lost) drop_lost(pick);
  }

  // A lost lease is still released (it deletes what is left of its keys).
  void drop_lost(std::size_t pick) {
    release(held_[pick].held);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(pick));
  }

  void release(lease& held) {
    const std::uint64_t id = ++call_;
    const std::string token = held.token();
    out_->write(release_call(id, token));
    result<void> r = held.release();
    if (r) {
      out_->write(success{id, token, std::nullopt, std::nullopt, words(r.tally())});
    } else {
      out_->write(failure{id, error_name(r), r.message(), std::nullopt});
    }
  }

  // An auto-extended lease's validity moves on the loop thread: check it before the recorded
  // one runs out, so that the history follows it.
  void refresh_auto_extended() {
    for (std::size_t i = 0; i < held_.size(); ++i) {
      held_lease& h = held_[i];
      if (!h.auto_extended || h.recorded_until - steady_clock::now() > milliseconds(400)) continue;
      if (h.held.lost() || steady_clock::now() >= h.recorded_until) continue;
      check(h, i);
      return;  // check may have erased it; the next round looks again
    }
  }

  void forget_dropped() {
    const time_point now = steady_clock::now();
    dropped_.erase(std::remove_if(dropped_.begin(), dropped_.end(),
                                  [now](const dropped_lease& d) { return d.forget_at <= now; }),
                   dropped_.end());
  }

  const run_options& o_;
  client locks_;
  std::shared_ptr<recorder> out_;
  std::mt19937_64 rng_;
  store_link link_;
  counter_store store_;
  std::uint64_t call_ = 0;
  std::vector<held_lease> held_;
  std::vector<dropped_lease> dropped_;
};

}  // namespace

int run_client(const run_options& o) {
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);

  auto writer = history_writer::open(o.history_path);
  if (!writer) {
    std::fprintf(stderr, "%s: %s\n", o.name.c_str(), writer.error().c_str());
    return 3;
  }
  auto out = std::make_shared<recorder>(std::move(*writer), o.name);

  // The negative controls' knobs, set before the client exists (its engine reads them once).
  redlock::detail::test_knobs::quorum = o.quorum;
  redlock::detail::test_knobs::seed_blindly = o.seed_blindly;
  client_options c;
  c.endpoints = o.endpoints;
  c.node_timeout = milliseconds(100);
  c.quarantine.enabled = o.quarantine;
  c.quarantine.max_ttl = max_ttl;
  c.risky_nodes_vote = o.risky_nodes_vote;
  c.replica_ack.replicas = std::max(o.replica_acks, 0);
  auto locks = client::create(c);
  if (!locks) {
    std::fprintf(stderr, "%s: %s\n", o.name.c_str(), locks.message().c_str());
    return 2;
  }
  client_loop(o, std::move(*locks), out).run();
  return 0;
}

}  // namespace redlock::torture
