// libuv plumbing shared by the clients: deferred and delayed calls on the loop thread, batched
// writes, and the thread-safe way in from other threads.
//
// Handles are unreferenced, so they never keep uv_run alive by themselves; the bridge is
// referenced while the engine has work in flight (see keep_loop_alive).
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "node_link.hpp"
#include "timer_queue.hpp"
#include "uv_handle.hpp"

namespace redlock::detail {

// The scheduler of one session, on its loop.
class loop_services final : public scheduler {
 public:
  loop_services(uv_loop_t* loop, const clock& clock);
  loop_services(const loop_services&) = delete;
  loop_services& operator=(const loop_services&) = delete;
  // close() must have completed.
  ~loop_services() override = default;

  void defer(std::function<void()> fn) override;
  timer_id schedule(std::chrono::nanoseconds delay, std::function<void()> fn) override;
  bool cancel(timer_id id) override;

  // Calls write(target) once, just before the loop next waits for I/O, together with every
  // other write queued in this tick: the connections' output leaves in one send() each.
  // Queuing twice is queuing once.
  void write_soon(void (*write)(void*), void* target);
  // Forgets a queued write (its target is going away).
  void cancel_write(void* target);

  // Drops pending work and closes the handles; `closed` runs once all are closed.
  void close(std::function<void()> closed);

  uv_loop_t* loop() const { return loop_; }

 private:
  static void on_idle(uv_idle_t* handle);
  static void on_prepare(uv_prepare_t* handle);
  static void on_timer(uv_timer_t* handle);
  void arm_timer();

  uv_loop_t* loop_;
  const clock& clock_;
  uv_handle<uv_idle_t> idle_;
  uv_handle<uv_timer_t> timer_;
  uv_handle<uv_prepare_t> prepare_;
  using write_list = std::vector<std::pair<void (*)(void*), void*>>;
  write_list writes_;
  write_list writes_flushing_;  // on_prepare's batch
  write_list* flushing_ = nullptr;
  std::vector<std::function<void()>> deferred_;
  timer_queue timers_;
  steady::time_point armed_for_ = steady::time_point::max();  // timer_ stopped: max()
  bool closing_ = false;
};

// The way into a loop from any thread: post() queues a task and wakes the loop.
class bridge {
 public:
  explicit bridge(uv_loop_t* loop);
  bridge(const bridge&) = delete;
  bridge& operator=(const bridge&) = delete;

  // Any thread. Returns false (and drops the task) once close() has begun.
  bool post(std::function<void()> task);
  // Any thread: whether close() has begun.
  bool closed();
  // Loop thread: runs the tasks queued so far.
  void run_queued();
  // Loop thread: whether this handle keeps uv_run alive.
  void keep_loop_alive(bool alive);
  // Loop thread: refuses new tasks, runs the ones already queued, closes the handle and then
  // runs `closed`.
  void close(std::function<void()> closed);

 private:
  static void on_wake(uv_async_t* handle);

  uv_handle<uv_async_t> async_;
  std::mutex mutex_;
  bool closed_ = false;                       // guarded by mutex_
  std::vector<std::function<void()>> tasks_;  // guarded by mutex_
};

}  // namespace redlock::detail
