// Who runs a session's loop while a thread waits in a blocking call (leader/follower).
//
// On the client's own loop (client), a thread blocked in a call runs the loop itself while no
// other thread does: a lone caller starts its request and reads the answer on its own thread,
// with no hand-off to another thread and back. Callers that come while another thread runs the
// loop post their request and sleep; the one that runs the loop wakes them with their outcome,
// and hands the loop to the first of them that still waits when its own call is done. The
// client's thread runs the loop only when no caller has for `grace` (or sooner, when a timer is
// due), for what runs with no caller: timers, extensions, releases from destructors; and it
// hands the loop to the first caller that comes.
//
// On a caller's loop (async_client), the loop belongs to its thread: blocking calls from other
// threads only post their request and sleep.
//
// Handing the loop on is done under one mutex, which orders every thread's use of the loop.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace redlock::detail {

class bridge;

class loop_leadership {
 public:
  // One blocking call: finish() runs on the loop once its outcome is known. Its caller sleeps
  // on the call's own word (a futex), so that telling it touches no lock another thread holds.
  class call {
   public:
    call() = default;
    call(const call&) = delete;
    call& operator=(const call&) = delete;

   private:
    friend class loop_leadership;
    void finish();
    enum : int {
      pending,   // waiting for its outcome, awake
      asleep,    // waiting for its outcome, in the futex
      finished,  // the outcome is known
      lead,      // told that the loop is free: it may run it
    };
    // The caller's thread: sleeps until the state is finished or lead, and returns it.
    int wait_for_turn();
    // Any thread: from pending or asleep to lead (waking it); false if finished.
    bool offer_lead();
    std::atomic<int> state_{pending};
  };
  // `may_lead`: the loop is the session's own (client); false for a caller's loop.
  loop_leadership(uv_loop_t* loop, bridge& bridge, bool may_lead,
                  std::chrono::microseconds grace = std::chrono::microseconds(1000));
  loop_leadership(const loop_leadership&) = delete;
  loop_leadership& operator=(const loop_leadership&) = delete;

  // A thread other than the loop's: runs `task` on the loop (after the tasks posted before
  // it) and returns once `c` is finished. False when the session no longer takes work (or in
  // a child process after fork(), where the loop is the parent's): the task was dropped and
  // `c` will not finish. An exception from the task or from anything the loop runs on a
  // caller's thread ends the process, as it would on the client's thread.
  bool run(std::function<void()> task, call& c);
  // Loop thread, once per call: its outcome is written; its caller may return.
  void finish(call& c);

  // The client's thread: runs the loop whenever no caller does, until stop() was called and
  // the loop has no handle left.
  void serve();
  // Any thread: from now on only the client's thread runs the loop, to its end.
  void stop();

  // Any thread: whether this thread runs the loop now.
  bool on_loop_thread() const;

 private:
  using steady = std::chrono::steady_clock;

  // mutex_ held: the loop is free; wakes the thread that should run it next.
  void hand_over();
  // mutex_ held: the calling thread runs the loop from now on.
  void take();
  // mutex_ held, by the thread that runs the loop: it stops doing so.
  void leave();
  // The calling thread runs the loop (taken) until `c` finishes; false if the loop ended first.
  bool lead_until(call& c) noexcept;
  // The leader's part of run(): the tasks posted before, `task`, then the loop until `c`.
  bool lead_with(std::function<void()>& task, call& c) noexcept;

  uv_loop_t* const loop_;
  bridge& bridge_;
  const bool may_lead_;
  const std::chrono::microseconds grace_;

  mutable std::mutex mutex_;
  std::condition_variable serve_wake_;  // the client's thread
  bool serve_idle_ = false;             // it waits for the loop to be left, with no timeout
  bool held_ = false;                   // a thread runs the loop
  std::atomic<bool> stopping_{false};   // written under mutex_; read by the loop's turns
  bool ended_ = false;                  // serve() returned: nobody runs the loop again
  bool due_soon_ = false;               // the last leader left work due within `grace`
  steady::time_point last_led_;         // when a caller last left the loop
  std::list<call*> waiting_;            // callers waiting for their outcome, oldest first
  // Callers that found the loop run by another thread (written under mutex_).
  std::atomic<std::uint64_t> arrivals_{0};
  std::atomic<std::thread::id> holder_{std::thread::id()};
  // The caller's loop runs on the thread that made the session.
  const std::thread::id owner_thread_;
  const pid_t owner_pid_;  // a forked child must not run the parent's loop
};

}  // namespace redlock::detail
