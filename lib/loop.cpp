#include "loop.hpp"

#include <algorithm>

namespace redlock::detail {

// ---- loop_services ------------------------------------------------------------------------

loop_services::loop_services(uv_loop_t* loop, const clock& clock) : loop_(loop), clock_(clock) {
  idle_.init([&](uv_idle_t* h) { return uv_idle_init(loop_, h); });
  timer_.init([&](uv_timer_t* h) { return uv_timer_init(loop_, h); });
  prepare_.init([&](uv_prepare_t* h) { return uv_prepare_init(loop_, h); });
  for (uv_handle_t* h : {idle_.raw(), timer_.raw(), prepare_.raw()}) {
    h->data = this;
    uv_unref(h);
  }
}

// Deferred calls run from an idle handle: once per loop iteration, after I/O, so a call that
// defers again waits for the next iteration instead of starving the sockets.
void loop_services::defer(std::function<void()> fn) {
  if (closing_) return;
  if (deferred_.empty()) uv_idle_start(idle_.get(), on_idle);
  deferred_.push_back(std::move(fn));
}

void loop_services::on_idle(uv_idle_t* handle) {
  auto* self = static_cast<loop_services*>(handle->data);
  auto batch = std::move(self->deferred_);
  self->deferred_.clear();
  uv_idle_stop(handle);
  for (auto& fn : batch)
    fn();
}

void loop_services::write_soon(void (*write)(void*), void* target) {
  if (closing_) return;
  for (const auto& w : writes_) {
    if (w.second == target) return;
  }
  if (writes_.empty()) uv_prepare_start(prepare_.get(), on_prepare);
  writes_.emplace_back(write, target);
}

void loop_services::cancel_write(void* target) {
  writes_.erase(std::remove_if(writes_.begin(), writes_.end(),
                               [target](const auto& w) { return w.second == target; }),
                writes_.end());
  if (flushing_ == nullptr) return;
  for (auto& w : *flushing_) {
    if (w.second == target) w.second = nullptr;
  }
}

void loop_services::on_prepare(uv_prepare_t* handle) {
  auto* self = static_cast<loop_services*>(handle->data);
  uv_prepare_stop(handle);
  // The two arrays trade places each tick and keep their room: no allocation per write.
  write_list& batch = self->writes_flushing_;
  batch.swap(self->writes_);
  self->flushing_ = &batch;  // a target freed meanwhile is cancelled in the batch too
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].second != nullptr) batch[i].first(batch[i].second);
  }
  batch.clear();
  self->flushing_ = nullptr;
}

scheduler::timer_id loop_services::schedule(std::chrono::nanoseconds delay,
                                            std::function<void()> fn) {
  steady::time_point due = clock_.now() + std::chrono::duration_cast<steady::duration>(delay);
  timer_id id = timers_.schedule(due, std::move(fn));
  arm_timer();
  return id;
}

bool loop_services::cancel(timer_id id) {
  // The uv timer stays armed: firing early finds nothing due and arms for what is next.
  return timers_.cancel(id);
}

// Restarted only for an earlier due time: most timers (a lease's margin, a retry) come due
// after one already armed, and a later one is armed when the earlier fires.
void loop_services::arm_timer() {
  if (closing_) return;
  steady::time_point next = timers_.next_due();
  if (next >= armed_for_) return;
  armed_for_ = next;
  uv_timer_start(timer_.get(), on_timer, timer_delay_ms(next - clock_.now()), 0);
}

void loop_services::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<loop_services*>(handle->data);
  self->armed_for_ = steady::time_point::max();
  self->timers_.run_due(self->clock_.now());
  self->arm_timer();
}

void loop_services::close(std::function<void()> closed) {
  closing_ = true;
  deferred_.clear();
  timers_.clear();
  writes_.clear();
  close_barrier barrier(std::move(closed));
  idle_.close(barrier.expect());
  timer_.close(barrier.expect());
  prepare_.close(barrier.expect());
}

// ---- bridge -------------------------------------------------------------------------------

bridge::bridge(uv_loop_t* loop) {
  async_.init([&](uv_async_t* h) { return uv_async_init(loop, h, on_wake); });
  async_.get()->data = this;
  uv_unref(async_.raw());
}

bool bridge::post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return false;
  bool wake = tasks_.empty();
  tasks_.push_back(std::move(task));
  // Under the mutex, so close() cannot close the handle between the check and the send.
  if (wake) uv_async_send(async_.get());
  return true;
}

bool bridge::closed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void bridge::keep_loop_alive(bool alive) {
  uv_handle_t* handle = async_.raw();
  if (alive) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
}

void bridge::on_wake(uv_async_t* handle) {
  static_cast<bridge*>(handle->data)->run_queued();
}

void bridge::run_queued() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(tasks_);
  }
  for (auto& task : batch)
    task();
}

void bridge::close(std::function<void()> closed) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  // Tasks posted before the close still run: a thread may be blocked waiting for one.
  run_queued();
  async_.close(std::move(closed));
}

}  // namespace redlock::detail
