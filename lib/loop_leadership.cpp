#include "loop_leadership.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop.hpp"

namespace redlock::detail {
namespace {

// Sleeps while `*word` is `expected` (at once back if it is not). A wake-up may be spurious.
void futex_wait(std::atomic<int>& word, int expected) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr,
          0);
}

// Wakes the thread sleeping on `word`. The word may belong to a call that returned meanwhile:
// the kernel only looks the address up among its sleepers, and every sleeper of any futex
// copes with a spurious wake-up.
void futex_wake(std::atomic<int>& word) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

void loop_leadership::call::finish() {
  // After the exchange the caller may return and this call be gone: nothing of it is touched
  // again but the address of its word.
  if (state_.exchange(finished) == asleep) futex_wake(state_);
}

int loop_leadership::call::wait_for_turn() {
  int s = state_.load();
  while (s == pending || s == asleep) {
    if (s == pending && !state_.compare_exchange_weak(s, asleep)) continue;
    futex_wait(state_, asleep);
    s = state_.load();
  }
  return s;
}

bool loop_leadership::call::offer_lead() {
  int s = state_.load();
  while (s == pending || s == asleep) {
    if (state_.compare_exchange_weak(s, lead)) {
      if (s == asleep) futex_wake(state_);
      return true;
    }
  }
  return s == lead;
}

loop_leadership::loop_leadership(uv_loop_t* loop, bridge& bridge, bool may_lead,
                                 std::chrono::microseconds grace)
    : loop_(loop),
      bridge_(bridge),
      may_lead_(may_lead),
      grace_(grace),
      owner_thread_(std::this_thread::get_id()),
      owner_pid_(getpid()) {}

void loop_leadership::finish(call& c) {
  // The loop must not go on to sleep in its poll once this outcome is known: a timer that was
  // due when uv_run began fires before the poll, which would then wait for the next event
  // (forever, when there is none). Only on the session's own loop: a caller's loop is not ours
  // to stop.
  if (may_lead_) uv_stop(loop_);
  c.finish();
}

bool loop_leadership::on_loop_thread() const {
  if (!may_lead_) return std::this_thread::get_id() == owner_thread_;
  return holder_.load() == std::this_thread::get_id();
}

bool loop_leadership::run(std::function<void()> task, call& c) {
  // In a forked child the loop, its epoll set and its sockets are the parent's (and mutex_
  // may have been held by a thread that does not exist here).
  if (getpid() != owner_pid_) return false;
  std::unique_lock<std::mutex> lock(mutex_);
  auto may_take = [this] { return may_lead_ && !held_ && !stopping_ && !ended_; };
  if (may_take()) {
    take();
    lock.unlock();
    bool finished = lead_with(task, c);
    lock.lock();
    leave();
    hand_over();
    return finished;
  }

  // A follower: the request goes to the thread that runs the loop, which wakes this one with
  // the outcome, or to run the loop once it is free.
  auto me = waiting_.insert(waiting_.end(), &c);
  ++arrivals_;
  if (!bridge_.post(std::move(task))) {
    waiting_.erase(me);
    hand_over();
    return false;
  }
  for (;;) {
    lock.unlock();
    int turn = c.wait_for_turn();
    lock.lock();
    if (turn == call::finished || ended_) {
      waiting_.erase(me);
      hand_over();  // this one may have been told to lead; then the next one is
      return turn == call::finished;
    }
    if (may_take()) break;
    // Another thread took the loop first: wait again, unless the outcome came meanwhile.
    int told = call::lead;
    c.state_.compare_exchange_strong(told, call::pending);
  }
  waiting_.erase(me);
  take();
  lock.unlock();
  bool finished = lead_until(c);
  lock.lock();
  leave();
  hand_over();
  return finished;
}

bool loop_leadership::lead_with(std::function<void()>& task, call& c) noexcept {
  if (bridge_.closed()) return false;
  bridge_.run_queued();  // what other threads posted before this call goes first
  task();
  return lead_until(c);
}

bool loop_leadership::lead_until(call& c) noexcept {
  while (c.state_.load() != call::finished) {
    if (uv_run(loop_, UV_RUN_ONCE) == 0) return c.state_.load() == call::finished;
  }
  return true;
}

void loop_leadership::take() {
  held_ = true;
  holder_.store(std::this_thread::get_id());
}

void loop_leadership::leave() {
  // Still the loop's thread here, so its timers may be read: the client's thread must come
  // sooner than after `grace` when one is due before then (or work is pending now).
  int timeout_ms = uv_backend_timeout(loop_);  // -1: no timer at all
  due_soon_ = timeout_ms >= 0 && std::chrono::milliseconds(timeout_ms) < grace_;
  held_ = false;
  holder_.store(std::thread::id());
  last_led_ = steady::now();
}

void loop_leadership::hand_over() {
  if (held_ || ended_) return;
  if (may_lead_ && !stopping_) {
    // The oldest caller still waiting runs it (a call in waiting_ is alive: its caller
    // leaves the list under mutex_ before it returns).
    for (call* next : waiting_) {
      if (next->offer_lead()) return;
    }
  }
  if (stopping_ || due_soon_ || serve_idle_) serve_wake_.notify_one();
}

void loop_leadership::serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto caller_waits = [this] {
    for (call* c : waiting_) {
      if (c->state_.load() != call::finished) return true;
    }
    return false;
  };
  for (;;) {
    if (held_ || (!stopping_ && caller_waits())) {
      // A caller runs the loop, or is about to: hand_over() wakes this thread when it is left
      // with no caller to take it (no polling while one caller waits for long).
      serve_idle_ = true;
      serve_wake_.wait(lock);
      serve_idle_ = false;
      continue;
    }
    if (!stopping_ && !due_soon_ && steady::now() < last_led_ + grace_) {
      // A caller ran it just now and may come back at once: leave the loop to callers.
      serve_wake_.wait_until(lock, last_led_ + grace_);
      continue;
    }
    take();
    std::uint64_t seen = arrivals_.load();
    lock.unlock();
    bool alive = true;
    bool hand = false;
    while (alive && !hand) {
      alive = uv_run(loop_, UV_RUN_ONCE) != 0;
      // A caller came (waiting still, or answered already): leave the loop to callers, so
      // that one that calls again runs it itself.
      hand = !stopping_ && arrivals_.load() != seen;
    }
    // Send what the waiting callers' requests queued before one of them takes the loop.
    if (alive) uv_run(loop_, UV_RUN_NOWAIT);
    lock.lock();
    leave();
    if (!alive) {
      // Only a closed session has no handle left that keeps the loop running.
      ended_ = true;
      for (call* c : waiting_)
        c->offer_lead();  // they see ended_ and return
      return;
    }
    hand_over();
  }
}

void loop_leadership::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  serve_wake_.notify_one();
}

}  // namespace redlock::detail
