#include "keeper.hpp"

#include <algorithm>

#include "quorum.hpp"

namespace redlock::detail {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

keeper::keeper(engine& locks, scheduler& timers, const clock& time, config c)
    : locks_(locks), timers_(timers), clock_(time), config_(c) {}

keeper::~keeper() {
  for (auto& [record, h] : held_)
    cancel_timers(h);
  if (flush_timer_ != 0) timers_.cancel(flush_timer_);
}

keeper::held_lock* keeper::find(const lock_record* lock) {
  auto it = held_.find(lock);
  return it == held_.end() ? nullptr : &it->second;
}

void keeper::watch(const std::shared_ptr<lock_record>& lock, const acquire_options& options) {
  lock->lost_margin = duration_cast<steady::duration>(options.ttl * options.lost_margin);
  held_lock h;
  h.lock = lock;
  h.ttl = options.ttl;
  h.auto_extend = options.auto_extend;
  h.on_lost = options.on_lost;
  h.hold_until = options.auto_extend.max_hold.count() > 0
                     ? saturating_add(clock_.now(), options.auto_extend.max_hold)
                     : steady::time_point::max();
  held_lock& watched = held_.emplace(lock.get(), std::move(h)).first->second;
  arm_margin(watched);
  if (watched.auto_extend.enabled) extend_at(watched, next_extension(watched));
}

// extend_at of the validity the last success left; a slow round leaves less than the ttl, and
// the extension must still start a node_timeout before the margin.
steady::time_point keeper::next_extension(const held_lock& h) const {
  steady::time_point now = clock_.now();
  auto left = h.lock->valid_until() - now;
  steady::time_point planned =
      now + duration_cast<steady::duration>(left * h.auto_extend.extend_at);
  planned = std::min(planned, h.lock->valid_until() - h.lock->lost_margin - config_.node_timeout);
  // Rounded down to the batch grid: earlier is always safe (the new validity then counts from
  // an earlier start, and the old one still holds), later never happens.
  steady::duration step = std::min<steady::duration>(config_.batch_window, h.ttl / 50);
  if (step <= steady::duration::zero()) return planned;
  steady::time_point on_grid(planned.time_since_epoch() - planned.time_since_epoch() % step);
  return on_grid > now ? on_grid : planned;
}

void keeper::extend(const std::shared_ptr<lock_record>& lock, milliseconds ttl,
                    engine::done_callback done) {
  send_extend(lock, ttl, std::move(done), counters_.caller_extends);
}

void keeper::send_extend(const std::shared_ptr<lock_record>& lock, milliseconds ttl,
                         engine::done_callback done, outcome_counts& counted) {
  locks_.extend(lock, ttl, [this, lock, &counted, done = std::move(done)](result<void> outcome) {
    lease_counters::count(counted, outcome.has_value());
    extended(lock, outcome);
    if (done) done(std::move(outcome));
  });
}

// Every extend outcome moves or shortens valid_until (engine::on_extend_decided): the margin
// follows it. A refusal ends the lease; another failure is tried again while validity lasts.
void keeper::extended(const std::shared_ptr<lock_record>& lock, const result<void>& outcome) {
  held_lock* h = find(lock.get());
  if (h == nullptr || lock->lost_reason()) return;
  steady::time_point now = clock_.now();
  if (outcome) {
    h->last_failure.clear();
    arm_margin(*h);
    // Once an extension asked for all that is left of max_hold, no later one can reach
    // further: extending again would only ask for less, sooner and sooner (a round every few
    // milliseconds at the end).
    if (h->auto_extend.enabled && !h->held_to_max_hold) extend_at(*h, next_extension(*h));
    return;
  }
  if (outcome.error() == errc::lock_lost) {
    lost_by(*h, outcome);
    return;
  }
  h->last_failure = outcome.message();
  arm_margin(*h);
  bool final = outcome.error() == errc::empty_lease || outcome.error() == errc::client_closed;
  if (h->auto_extend.enabled && !final) extend_at(*h, now + config_.retry_delay);
}

void keeper::lost_by(held_lock& h, const result_base& outcome) {
  const tally& votes = outcome.tally();
  bool refused = votes.refused() > votes.nodes().size() - quorum_of(votes.nodes().size());
  lose(h, refused ? lease_lost::cause::refused : lease_lost::cause::margin_reached,
       outcome.message(), votes);
}

void keeper::check(const std::shared_ptr<lock_record>& lock, engine::check_callback done) {
  locks_.check(lock, [this, lock, done = std::move(done)](result<ownership> outcome) {
    lease_counters::count(counters_.ownership_checks, outcome.has_value());
    held_lock* h = find(lock.get());
    if (h != nullptr && !lock->lost_reason()) {
      if (outcome.error() == errc::lock_lost) {
        lost_by(*h, outcome);
      } else {
        arm_margin(*h);  // validity may have been shortened
      }
    }
    done(std::move(outcome));
  });
}

// Replaces `timer` with one that runs `(this->*fire)(lock)` at `when` (at once if past). The
// callback finds the lock by address: one released meanwhile is simply not found.
template <void (keeper::*fire)(const lock_record*)>
void keeper::schedule_at(scheduler::timer_id& timer, steady::time_point when,
                         const lock_record* lock) {
  if (timer != 0) timers_.cancel(timer);
  auto wait = std::max(when - clock_.now(), steady::duration::zero());
  timer = timers_.schedule(wait, [this, lock] { (this->*fire)(lock); });
}

void keeper::arm_margin(held_lock& h) {
  schedule_at<&keeper::on_margin>(h.margin_timer, h.lock->valid_until() - h.lock->lost_margin,
                                  h.lock.get());
}

void keeper::on_margin(const lock_record* lock) {
  held_lock* h = find(lock);
  if (h == nullptr) return;
  h->margin_timer = 0;
  steady::time_point now = clock_.now();
  if (!h->lock->lost(now)) {  // extended meanwhile
    arm_margin(*h);
    return;
  }
  auto margin = duration_cast<milliseconds>(h->lock->lost_margin);
  std::string message = "the lease of " + h->lock->name() + " came within its safety margin (" +
                        ms_text(margin) + " before valid_until)";
  if (h->held_to_max_hold && h->last_failure.empty()) {
    lose(*h, lease_lost::cause::max_hold_reached,
         message + " after auto-extension stopped at max_hold (" +
             ms_text(h->auto_extend.max_hold) + ")",
         {});
    return;
  }
  message += " with no extension confirmed";
  if (!h->last_failure.empty()) message += "; the last extend: " + h->last_failure;
  lose(*h, lease_lost::cause::margin_reached, std::move(message), {});
}

void keeper::extend_at(held_lock& h, steady::time_point when) {
  schedule_at<&keeper::auto_extend>(h.extend_timer, when, h.lock.get());
}

void keeper::auto_extend(const lock_record* lock) {
  held_lock* h = find(lock);
  if (h == nullptr) return;
  h->extend_timer = 0;
  steady::time_point now = clock_.now();
  if (h->lock->lost(now)) return;
  milliseconds ttl = h->ttl;
  if (h->hold_until != steady::time_point::max()) {
    auto left = duration_cast<milliseconds>(h->hold_until - now);
    if (left < ttl) {
      ttl = left;
      h->held_to_max_hold = true;
    }
    // What is left of max_hold is too short to be worth a round: let the lease run out.
    if (ttl <= config_.node_timeout) return;
  }
  due_.push_back({h->lock, ttl});
  if (flush_timer_ == 0) {
    // A timer, not defer(): it runs after every timer already due (the batch's members),
    // and the keeper can cancel it.
    flush_timer_ = timers_.schedule(steady::duration::zero(), [this] { flush_due(); });
  }
}

void keeper::flush_due() {
  flush_timer_ = 0;
  std::vector<engine::batch_member> batch;
  batch.reserve(due_.size());
  for (due_extension& due : due_) {
    // Released or lost meanwhile: not extended (a release is on its way already).
    if (find(due.lock.get()) == nullptr || due.lock->lost(clock_.now())) continue;
    auto lock = due.lock;
    batch.push_back({std::move(due.lock), due.ttl, [this, lock](result<void> outcome) {
                       lease_counters::count(counters_.auto_extends, outcome.has_value());
                       extended(lock, outcome);
                     }});
  }
  due_.clear();
  locks_.extend_many(std::move(batch));
}

void keeper::lose(held_lock& h, lease_lost::cause why, std::string message, tally votes) {
  cancel_timers(h);
  lease_lost signal;
  signal.why = why;
  signal.message = std::move(message);
  signal.votes = std::move(votes);
  signal.at = clock_.now();
  lease_lost told = signal;
  if (!h.lock->declare_lost(std::move(signal))) return;
  counters_.lost_by(why);
  if (!h.on_lost) return;
  // Deferred: never inside the call that found it lost, and outside every lock.
  timers_.defer([on_lost = h.on_lost, told = std::move(told), lock = h.lock] {
    if (!lock->released) on_lost(told);  // a release that came in between wins
  });
}

void keeper::cancel_timers(held_lock& h) {
  if (h.margin_timer != 0) timers_.cancel(h.margin_timer);
  if (h.extend_timer != 0) timers_.cancel(h.extend_timer);
  h.margin_timer = h.extend_timer = 0;
}

void keeper::released(const lock_record& lock) {
  held_lock* h = find(&lock);
  if (h == nullptr) return;
  cancel_timers(*h);
  held_.erase(&lock);
}

std::vector<std::shared_ptr<lock_record>> keeper::close() {
  std::vector<std::shared_ptr<lock_record>> out;
  for (auto& [record, h] : held_) {
    lose(h, lease_lost::cause::client_closed,
         "the client was destroyed while the lease of " + h.lock->name() +
             " was held; it is released now",
         {});
    out.push_back(h.lock);
  }
  return out;
}

}  // namespace redlock::detail
