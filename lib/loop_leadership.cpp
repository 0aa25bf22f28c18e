#include "loop_leadership.hpp"

#include "loop.hpp"

namespace redlock::detail {

void loop_leadership::call::finish() {
  std::lock_guard<std::mutex> lock(owner_.mutex_);
  finished_ = true;
  // No system call when the caller is the thread running the loop: nobody waits on it.
  wake_.notify_one();
}

loop_leadership::loop_leadership(uv_loop_t* loop, bridge& bridge, bool may_lead,
                                 std::chrono::microseconds grace)
    : loop_(loop),
      bridge_(bridge),
      may_lead_(may_lead),
      grace_(grace),
      owner_thread_(std::this_thread::get_id()) {}

bool loop_leadership::on_loop_thread() const {
  if (!may_lead_) return std::this_thread::get_id() == owner_thread_;
  return holder_.load() == std::this_thread::get_id();
}

bool loop_leadership::run(std::function<void()> task, call& c) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto may_take = [this] { return may_lead_ && !held_ && !stopping_ && !ended_; };
  if (may_take()) {
    take();
    lock.unlock();
    bool finished = false;
    if (!bridge_.closed()) {
      bridge_.run_queued();  // what other threads posted before this call goes first
      task();
      finished = lead_until(c);
    }
    lock.lock();
    leave();
    hand_over();
    return finished;
  }

  auto me = waiting_.insert(waiting_.end(), &c);
  ++arrivals_;
  lock.unlock();
  bool posted = bridge_.post(std::move(task));
  lock.lock();
  if (!posted) {
    waiting_.erase(me);
    hand_over();
    return false;
  }
  c.wake_.wait(lock, [&] { return c.finished_ || ended_ || may_take(); });
  waiting_.erase(me);
  if (c.finished_ || ended_) {
    // Woken to run the loop perhaps, but no longer in need of it: the next one is.
    hand_over();
    return c.finished_;
  }
  take();
  lock.unlock();
  bool finished = lead_until(c);
  lock.lock();
  leave();
  hand_over();
  return finished;
}

bool loop_leadership::lead_until(call& c) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (c.finished_) return true;
    }
    if (uv_run(loop_, UV_RUN_ONCE) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      return c.finished_;
    }
  }
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
    for (call* next : waiting_) {
      if (next->finished_) continue;
      next->wake_.notify_one();
      return;
    }
  }
  if (stopping_ || due_soon_) serve_wake_.notify_one();
}

void loop_leadership::serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto caller_waits = [this] {
    for (call* c : waiting_) {
      if (!c->finished_) return true;
    }
    return false;
  };
  for (;;) {
    if (held_ || (!stopping_ && caller_waits())) {
      // A caller runs the loop, or is about to: look again within `grace`.
      serve_wake_.wait_for(lock, grace_);
      continue;
    }
    if (!stopping_ && !due_soon_ && steady::now() < last_led_ + grace_) {
      // A caller ran it just now and may come back at once: leave the loop to callers.
      serve_wake_.wait_until(lock, last_led_ + grace_);
      continue;
    }
    take();
    std::uint64_t seen = arrivals_;
    lock.unlock();
    bool alive = true;
    bool hand = false;
    while (alive && !hand) {
      alive = uv_run(loop_, UV_RUN_ONCE) != 0;
      // A caller came (waiting still, or answered already): leave the loop to callers, so
      // that one that calls again runs it itself.
      std::lock_guard<std::mutex> guard(mutex_);
      hand = !stopping_ && arrivals_ != seen;
    }
    // Send what the waiting callers' requests queued before one of them takes the loop.
    if (alive) uv_run(loop_, UV_RUN_NOWAIT);
    lock.lock();
    leave();
    if (!alive) {
      // Only a closed session has no handle left that keeps the loop running.
      ended_ = true;
      for (call* c : waiting_)
        c->wake_.notify_one();
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
