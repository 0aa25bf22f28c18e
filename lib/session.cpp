#include "session.hpp"

#include <algorithm>

#include "cancel.hpp"
#include "quoted.hpp"
#include "token.hpp"

namespace redlock::detail {

result<void> scoped_outcome(const std::vector<std::string>& resources,
                            const std::optional<lease_lost>& lost, bool expired,
                            result<void> released) {
  if (!lost && !expired) return released;
  return {errc::lock_lost, "the lock on " + quoted(resources) + " was lost while the work ran: " +
                               (lost ? lost->message : "its validity ran out")};
}

result<std::shared_ptr<session>> session::create(uv_loop_t* loop, client_options options,
                                                 loop_mode mode) {
  if (loop == nullptr) return {errc::invalid_option, "invalid option loop: must not be null"};
  result<checked_options> checked = check_client_options(std::move(options));
  if (!checked) return checked.status();
  std::shared_ptr<const tls_context> tls;
  for (const endpoint& e : checked->endpoints) {
    if (!e.tls || tls) continue;
    result<std::shared_ptr<tls_context>> made = tls_context::create(checked->options.tls);
    if (!made) return made.status();
    tls = std::move(*made);
  }
  return std::make_shared<session>(loop, std::move(*checked), std::move(tls), mode);
}

session::session(uv_loop_t* loop, checked_options checked, std::shared_ptr<const tls_context> tls,
                 loop_mode mode)
    : options_(std::move(checked.options)),
      mode_(mode),
      services_(loop, clock_),
      bridge_(loop),
      // The caller's loop runs on the creating thread; the client's, on whichever waits.
      leadership_(loop, bridge_, mode == loop_mode::own_thread) {
  std::vector<node_link*> links;
  std::vector<node_config> subscribers;
  for (auto& where : checked.endpoints) {
    std::shared_ptr<sentinel_group> group;
    if (where.is_sentinel_group()) {
      group = std::make_shared<sentinel_group>(loop, services_, clock_, where, options_, tls,
                                               random_seed());
      groups_.push_back(group);
    }
    node_config voter = node_config::from(where, options_, random_seed(), tls);
    voter.group = group;
    node_config subscriber = voter;
    subscriber.seed = random_seed();
    subscribers.push_back(std::move(subscriber));
    nodes_.push_back(std::make_unique<node>(loop, services_, clock_, std::move(voter)));
    links.push_back(nodes_.back().get());
  }
  engine_config config = engine_config::from(options_);
  config.seed = random_seed();
  engine_ = std::make_unique<engine>(std::move(config), std::move(links), clock_, services_);
  notices_ =
      std::make_unique<release_notices>(loop, services_, clock_, std::move(subscribers), *engine_);
  engine_->set_key_watch(notices_.get());
  // Batch grid of 100 ms (at most ttl/50): a burst of leases granted within it is extended
  // as one script call per node, each lease at most that much earlier than planned.
  keeper_ = std::make_unique<keeper>(
      *engine_, services_, clock_,
      keeper::config{options_.retry_delay, options_.node_timeout, std::chrono::milliseconds(100)});
  // The client's own loop must run for as long as the session is open; the caller's loop is
  // kept alive only while there is work in flight (or the session is closing).
  bridge_.keep_loop_alive(mode_ == loop_mode::own_thread);
  engine_->on_activity([this](bool busy) {
    update_keep_alive();
    if (!busy && engine_->idle() && closing_ && !closing_handles_) {
      services_.defer([this] { close_handles(); });
    }
  });
}

session::~session() = default;

// The caller's loop stays alive while work is in flight, while a lock is held (another thread
// may still extend or release it through the bridge) and while the session closes.
void session::update_keep_alive() {
  if (mode_ == loop_mode::own_thread || closing_handles_) return;
  bridge_.keep_loop_alive(closing_ || engine_->in_flight() > 0 || keeper_->held() > 0);
}

void session::start() {
  for (auto& g : groups_)
    g->start();
  for (auto& n : nodes_)
    n->start();
}

result<void> session::refuse_if_closing(std::string_view what) const {
  if (!closing_) return {};
  return {errc::client_closed, "the client is closed; " + std::string(what) + " was not started"};
}

result<void> session::acquire(std::vector<std::string> resources, const acquire_options& options,
                              lease_callback done) {
  if (auto r = refuse_if_closing("acquire"); !r) return r;
  if (auto r = check_acquire(resources, options, options_); !r) return r;
  std::shared_ptr<cancel_state> cancel;
  if (options.cancel) {
    cancel = cancel_access::state(*options.cancel);
    if (cancel->cancelled) {
      return {errc::cancelled,
              "the acquire of " + quoted(resources) + " was cancelled before it began"};
    }
  }
  // The cancel listener's id, once it is listening (only with a cancel token).
  auto listening = cancel ? std::make_shared<std::uint64_t>(0) : nullptr;
  std::uint64_t id = engine_->acquire(
      std::move(resources), options,
      [self = shared_from_this(), options, cancel, listening,
       done = std::move(done)](result<std::shared_ptr<lock_record>> granted) {
        if (cancel) cancel->unlisten(*listening);
        if (!granted) {
          done(std::move(granted).status());
          return;
        }
        if (self->closing_) {
          // Won while the client closes: the leases it held are being released already, and
          // this one must not escape that.
          std::string name = (*granted)->name();
          self->engine_->release(*granted, nullptr);
          done({errc::client_closed, "the client closed while the acquire of " + name +
                                         " was in flight; its lock was released"});
          return;
        }
        auto state = std::make_shared<lease_state>();
        state->owner = self;
        state->lock = std::move(*granted);
        self->keeper_->watch(state->lock, options);
        self->update_keep_alive();
        done(result<lease>(lease_access::make(std::move(state)), granted.take_tally()));
      });
  if (cancel) {
    // From any thread: the cancellation is handed to the loop, where the acquire lives.
    std::weak_ptr<session> weak = shared_from_this();
    *listening = cancel->listen([weak, id] {
      if (auto self = weak.lock()) self->post([self, id] { self->engine_->cancel(id); });
    });
    if (*listening == 0) {  // cancelled since the check above
      services_.defer([self = shared_from_this(), id] { self->engine_->cancel(id); });
    }
  }
  return {};
}

result<void> session::extend(const std::shared_ptr<lease_state>& held,
                             std::chrono::milliseconds ttl, engine::done_callback done) {
  if (auto r = refuse_if_closing("extend"); !r) return r;
  if (auto r = check_ttl(ttl, options_); !r) return r;
  keeper_->extend(held->lock, ttl, std::move(done));
  return {};
}

result<void> session::check(const std::shared_ptr<lease_state>& held, engine::check_callback done) {
  if (auto r = refuse_if_closing("check_ownership"); !r) return r;
  keeper_->check(held->lock, std::move(done));
  return {};
}

result<void> session::release(const std::shared_ptr<lease_state>& held,
                              engine::done_callback done) {
  // Releases are still sent while the session closes (a lease destroyed just after its
  // client): only once the connections are closing is it too late.
  if (closing_handles_)
    return {errc::client_closed, "the client is closed; release was not started"};
  release_lock(held->lock, std::move(done));
  return {};
}

void session::release_lock(const std::shared_ptr<lock_record>& lock, engine::done_callback done) {
  keeper_->released(*lock);
  engine_->release(lock, std::move(done));
}

result<void> session::adopt(std::vector<std::string> resources, std::string token,
                            std::optional<std::uint64_t> fence, lease_callback done) {
  if (auto r = refuse_if_closing("adopt"); !r) return r;
  if (auto r = check_resources(resources); !r) return r;
  if (auto r = check_token(token); !r) return r;
  std::vector<std::string> keys;
  keys.reserve(resources.size());
  for (const std::string& r : resources)
    keys.push_back(engine_->key_of(r));
  // The ttl is unknown until the check: it sets the validity (never later than this bound)
  // and the ttl a key left behind may still have.
  auto lock = std::make_shared<lock_record>(std::move(resources), std::move(keys), std::move(token),
                                            max_ttl, nodes_.size());
  lock->may_hold.assign(nodes_.size(), true);
  lock->fence = fence;
  lock->set_valid_until(saturating_add(clock_.now(), max_ttl));
  engine_->check(
      lock, [self = shared_from_this(), lock, done = std::move(done)](result<ownership> held) {
        if (!held) {
          done(std::move(held).status());
          return;
        }
        if (self->closing_) {
          done({errc::client_closed, "the client closed while the adopt of " + lock->name() +
                                         " was in flight; the lock was left as it was"});
          return;
        }
        acquire_options watched;
        watched.ttl = std::clamp(held->min_ttl, std::chrono::milliseconds(1), max_ttl);
        // lock->ttl stays max_ttl: nodes outside the majority may hold our keys for longer,
        // and a release owed to them must not be given up early.
        auto state = std::make_shared<lease_state>();
        state->owner = self;
        state->lock = lock;
        self->keeper_->watch(lock, watched);
        self->update_keep_alive();
        done(result<lease>(lease_access::make(std::move(state)), held.take_tally()));
      });
  return {};
}

result<void> session::detach(const std::shared_ptr<lease_state>& held, engine::done_callback done) {
  if (auto r = refuse_if_closing("detach"); !r) return r;
  services_.defer([self = shared_from_this(), lock = held->lock, done = std::move(done)]() mutable {
    self->finish_detach(std::move(lock), std::move(done));
  });
  return {};
}

// The next holder counts its validity from the ttl the nodes say is left (adopt), so nothing
// of ours may change that ttl after we let go: the lock is handed over only once no extend
// round of it is out (an answer still to come may be a PEXPIRE that has not run yet), and
// never while an extend that timed out may still run late on a node.
void session::finish_detach(std::shared_ptr<lock_record> lock, engine::done_callback done) {
  if (lock->released) {
    done({errc::empty_lease, "detach of " + lock->name() + ": it was released meanwhile"});
    return;
  }
  if (lock->extending || !lock->queued_extends.empty()) {
    services_.schedule(std::chrono::milliseconds(1),
                       [self = shared_from_this(), lock, done = std::move(done)]() mutable {
                         self->finish_detach(std::move(lock), std::move(done));
                       });
    return;
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (lock->late_ttl[i] == std::chrono::milliseconds::max()) continue;
    done({errc::handover_unsafe,
          "detach of " + lock->name() + ": an extend to " + nodes_[i]->name() +
              " timed out and may still run there, shortening the keys under whoever adopts "
              "the lock; the lease keeps it (use or release it)"});
    return;
  }
  keeper_->released(*lock);
  lock->released = true;  // the engine sends it nothing more
  update_keep_alive();
  done({});
}

result<void> session::inspect(std::string resource, inspect_callback done) {
  if (auto r = refuse_if_closing("inspect"); !r) return r;
  if (auto r = check_resources({resource}); !r) return r;
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command({"PTTL", engine_->key_of(resource)});
  struct gathering {
    std::vector<node_lock_state> nodes;
    std::size_t waiting = 0;
    inspect_callback done;
  };
  auto g = std::make_shared<gathering>();
  g->nodes.resize(nodes_.size());
  g->waiting = nodes_.size();
  g->done = std::move(done);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    g->nodes[i].endpoint = nodes_[i]->name();
    nodes_[i]->send(
        cmd,
        [g, i](node_answer answer) {
          node_lock_state& n = g->nodes[i];
          if (answer.error) {
            n.error = answer.detail.empty() ? answer.error.message() : answer.detail;
          } else if (answer.value.is_error()) {
            n.error = answer.value.text;
          } else if (answer.value.kind != reply::type::integer || answer.value.integer < -2) {
            n.error = "unexpected reply to PTTL";
          } else if (answer.value.integer == -2) {
            n.state = key_state::free;
          } else {
            n.state = key_state::held;
            n.ttl_left = answer.value.integer == -1
                             ? std::chrono::milliseconds::max()
                             : std::chrono::milliseconds(answer.value.integer);
          }
          if (--g->waiting == 0) g->done(std::move(g->nodes));
        },
        options_.node_timeout);
  }
  return {};
}

result<void> session::wait_ready(std::chrono::milliseconds timeout, engine::done_callback done) {
  if (auto r = refuse_if_closing("wait_ready"); !r) return r;
  if (timeout.count() < 0) {
    return {errc::invalid_option,
            "invalid option timeout: must be >= 0 ms (got " + ms_text(timeout) + ")"};
  }
  engine_->wait_ready(saturating_add(clock_.now(), timeout), std::move(done));
  return {};
}

std::vector<node_health> session::health() const {
  std::vector<node_health> out;
  out.reserve(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    node_health h = nodes_[i]->health();
    if (auto first = engine_->duplicate_of(i)) h.duplicate_of = nodes_[*first]->name();
    h.owed_releases = engine_->owed(i).owed();
    h.dropped_releases = engine_->owed(i).dropped();
    out.push_back(std::move(h));
  }
  return out;
}

client_metrics session::metrics() const {
  client_metrics m;
  const acquire_counters& acquires = engine_->counters();
  m.acquires = acquires.started;
  m.granted = acquires.granted;
  m.acquires_failed = acquires.failed;
  m.attempts = acquires.attempts;
  m.granted_wait = acquires.granted_wait.summary();
  m.failed_wait = acquires.failed_wait.summary();
  const lease_counters& leases = keeper_->counters();
  m.leases_held = keeper_->held();
  m.leases_lost = leases.lost;
  m.caller_extends = leases.caller_extends;
  m.auto_extends = leases.auto_extends;
  m.ownership_checks = leases.ownership_checks;
  return m;
}

// ---- closing ------------------------------------------------------------------------------
//
// 1. close(): refuse new work, stop retry waits, keep the loop alive. Leases still held are
//    lost (their signals run first), then released.
// 2. Once the engine is idle (every request answered or timed out): close the bridge (tasks
//    already posted still run and are refused), then the nodes.
// 3. Once the nodes are closed: the scheduler's handles; then `closed` runs.

void session::close(std::function<void()> closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(closed);
  keep_alive_ = shared_from_this();
  update_keep_alive();
  // The lost signals are deferred by the keeper; these releases are deferred after them.
  for (auto& lock : keeper_->close())
    services_.defer([this, lock] { release_lock(lock, nullptr); });
  engine_->shutdown();
  services_.defer([this] { close_handles(); });
}

void session::close_handles() {
  // Run what other threads posted first (the releases of leases destroyed just now); while
  // anything is in flight, the engine's next idle notification calls again.
  if (closing_handles_) return;
  bridge_.run_queued();
  if (!engine_->idle()) return;
  closing_handles_ = true;
  // Once the bridge and every node are closed: the scheduler's handles, directly, not
  // deferred (nothing else keeps the caller's loop alive now; what the nodes still had
  // deferred belongs to the engine's own clean-ups, which no caller waits for).
  close_barrier parts([this] {
    services_.close([this] {
      auto closed = std::move(on_closed_);
      auto self = std::move(keep_alive_);
      if (closed) closed();
    });
  });
  bridge_.close(parts.expect());
  for (auto& n : nodes_)
    n->close(parts.expect());
  notices_->close(parts.expect());
  for (auto& g : groups_)
    g->close(parts.expect());
}

}  // namespace redlock::detail
