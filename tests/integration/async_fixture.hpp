// A fleet and a libuv loop the test owns and runs, for async_client tests.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

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
  // Runs the loop until `done` holds (or a generous bound passes).
  void run_until(const std::function<bool()>& done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < until)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_TRUE(done()) << "timed out running the loop";
  }

  uv_loop_t loop;
};

}  // namespace redlock::testing
