// A libuv loop run by the test's own thread, with the library's loop services on it, for
// tests that drive internal parts (nodes, release_notices) without a client. Those parts'
// handles do not keep a loop alive, so a referenced tick timer keeps uv_run waiting while a
// test waits. Close what runs on it (waiting with run_until) before it is destroyed.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>

#include "clock.hpp"
#include "loop.hpp"

namespace redlock::testing {

class loop_runner {
 public:
  loop_runner() {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &tick_);
    services_ = std::make_unique<detail::loop_services>(&loop_, clock_);
  }
  ~loop_runner() {
    services_->close({});
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    services_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  loop_runner(const loop_runner&) = delete;
  loop_runner& operator=(const loop_runner&) = delete;

  uv_loop_t* loop() { return &loop_; }
  detail::loop_services& services() { return *services_; }
  const detail::clock& clock() const { return clock_; }

  // Runs the loop until `condition` holds or `limit` passes; returns whether it held.
  bool run_until(const std::function<bool()>& condition,
                 std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 2, 2);
    auto until = std::chrono::steady_clock::now() + limit;
    bool held = condition();
    while (!held && std::chrono::steady_clock::now() < until) {
      uv_run(&loop_, UV_RUN_ONCE);
      held = condition();
    }
    uv_timer_stop(&tick_);
    return held;
  }
  void run_for(std::chrono::milliseconds d) {
    run_until([] { return false; }, d);
  }

 private:
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  detail::steady_clock_source clock_;
  std::unique_ptr<detail::loop_services> services_;
};

}  // namespace redlock::testing
