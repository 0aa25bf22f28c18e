// keeper: the life of a lease after its grant. It keeps the lock alive when asked
// (auto-extension) and declares it lost, once, as early as it must: when an extend is refused,
// when validity comes within the lease's safety margin with no extension confirmed, or when
// the client closes while the lease is held. Every extend of a held lock goes through here, so
// the keeper sees each outcome (the caller's and its own).
//
// Loop thread only. The on_lost callback runs deferred (never inside a call into the keeper)
// and outside every lock: lock_record::declare_lost has returned before it runs.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "clock.hpp"
#include "counters.hpp"
#include "engine.hpp"
#include "lock_record.hpp"
#include "node_link.hpp"
#include "redlock/options.hpp"

namespace redlock::detail {

class keeper {
 public:
  struct config {
    std::chrono::milliseconds retry_delay;   // between failed auto-extensions
    std::chrono::milliseconds node_timeout;  // an extension ttl must exceed it
    // Automatic extensions are planned on a grid of this step (at most a fiftieth of the
    // lease's ttl), each rounded earlier, never later: leases granted within one step of each
    // other come due at the same instant and go out as one batch (engine::extend_many).
    // Zero: each at its own time (those due at the same instant are still batched).
    std::chrono::milliseconds batch_window{0};
  };
  keeper(engine& locks, scheduler& timers, const clock& time, config c);
  keeper(const keeper&) = delete;
  keeper& operator=(const keeper&) = delete;
  ~keeper();

  // A lock just granted with `options` (already checked): sets its margin, arms the lost
  // signal and, if asked, the auto-extension. Before the lease is handed out.
  void watch(const std::shared_ptr<lock_record>& lock, const acquire_options& options);
  // An extend of a held lock; `done` may be empty.
  void extend(const std::shared_ptr<lock_record>& lock, std::chrono::milliseconds ttl,
              engine::done_callback done);
  // An ownership check of a held lock: a majority without our token loses it; a shorter
  // validity moves the margin earlier.
  void check(const std::shared_ptr<lock_record>& lock, engine::check_callback done);
  // The lease released it: no more extensions or signals.
  void released(const lock_record& lock);
  // The client closes: every lock still held is declared lost (client_closed), and returned
  // so that the caller releases it after the signals ran.
  std::vector<std::shared_ptr<lock_record>> close();
  // Locks granted and not yet released.
  std::size_t held() const { return held_.size(); }
  const lease_counters& counters() const { return counters_; }

 private:
  struct held_lock {
    std::shared_ptr<lock_record> lock;
    std::chrono::milliseconds ttl;  // the acquire's: what each auto-extension asks for
    auto_extend_options auto_extend;
    std::function<void(const lease_lost&)> on_lost;
    steady::time_point hold_until;  // max_hold from the grant; max(): none
    bool held_to_max_hold = false;  // auto-extension asked for less than ttl, or stopped
    std::string last_failure;       // the last failed extend, for the margin's message
    scheduler::timer_id margin_timer = 0;
    scheduler::timer_id extend_timer = 0;
  };

  held_lock* find(const lock_record* lock);
  // An extend of a held lock, the caller's or an automatic one (counted apart).
  void send_extend(const std::shared_ptr<lock_record>& lock, std::chrono::milliseconds ttl,
                   engine::done_callback done, outcome_counts& counted);
  void extended(const std::shared_ptr<lock_record>& lock, const result<void>& outcome);
  // lock_lost from an extend or a check: refused when the refusals decided it.
  void lost_by(held_lock& h, const result_base& outcome);
  // `fire` is a template argument so that the timer's callback holds two pointers only and
  // fits in std::function without an allocation (one per lease otherwise).
  template <void (keeper::*fire)(const lock_record*)>
  void schedule_at(scheduler::timer_id& timer, steady::time_point when, const lock_record* lock);
  void arm_margin(held_lock& h);
  void on_margin(const lock_record* lock);
  void extend_at(held_lock& h, steady::time_point when);
  steady::time_point next_extension(const held_lock& h) const;
  void auto_extend(const lock_record* lock);
  // Sends the automatic extensions that came due since the last flush, batched.
  void flush_due();
  void lose(held_lock& h, lease_lost::cause why, std::string message, tally votes);
  void cancel_timers(held_lock& h);

  engine& locks_;
  scheduler& timers_;
  const clock& clock_;
  config config_;
  std::unordered_map<const lock_record*, held_lock> held_;
  // Automatic extensions due, gathered until the flush timer (armed by the first of them)
  // runs after every timer that came due with it.
  struct due_extension {
    std::shared_ptr<lock_record> lock;
    std::chrono::milliseconds ttl;
  };
  std::vector<due_extension> due_;
  scheduler::timer_id flush_timer_ = 0;
  lease_counters counters_;
};

}  // namespace redlock::detail
