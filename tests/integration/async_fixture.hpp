// A fleet and a libuv loop the test owns and runs, for async_client tests.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>

#include "fixture.hpp"
#include "redlock/async_client.hpp"

namespace redlock::testing {

class async_fleet_test : public fleet_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    ASSERT_EQ(uv_loop_init(&loop), 0);
  }
  void TearDown() override {
    if (service_work_running_) uv_close(reinterpret_cast<uv_handle_t*>(&service_work_), nullptr);
    // Every handle of every client is closed by now: the loop closes cleanly.
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
    fleet_test::TearDown();
  }
  async_client make_async(client_options o) {
    auto c = async_client::create(&loop, std::move(o));
    EXPECT_TRUE(c) << c.message();
    return std::move(*c);
  }
  // Runs the loop until `done` holds (or `limit`, generous by default, passes).
  void run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_TRUE(done()) << "timed out running the loop";
  }
  // Runs the loop until `locks` is ready (wait_ready: a majority connected), failing the test if
  // it is not within 10 s. Wrap the call in ASSERT_NO_FATAL_FAILURE to stop there.
  void run_until_ready(async_client& locks) {
    std::optional<result<void>> ready;
    ASSERT_TRUE(
        locks.wait_ready(std::chrono::seconds(10), [&](result<void> r) { ready.emplace(r); }));
    run_until([&] { return ready.has_value(); });
    ASSERT_TRUE(ready.has_value());
    ASSERT_TRUE(*ready) << ready->message();
  }

  // Keeps the loop alive, as a service's own handles would. A client's background work (the
  // releases owed to a node that timed out, its reconnect) does not keep uv_run going, so a
  // test that waits for it must keep the loop running by other means, like a service.
  void keep_loop_running() {
    if (service_work_running_) return;
    ASSERT_EQ(uv_timer_init(&loop, &service_work_), 0);
    ASSERT_EQ(uv_timer_start(
                  &service_work_, [](uv_timer_t*) {}, 5, 5),
              0);
    service_work_running_ = true;
  }

  uv_loop_t loop;

 private:
  uv_timer_t service_work_;
  bool service_work_running_ = false;
};

}  // namespace redlock::testing
