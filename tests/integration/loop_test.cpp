// The libuv plumbing on a real loop: the bridge.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <thread>

#include "loop.hpp"

namespace redlock::detail {
namespace {

// A write to a socket whose peer is gone raises SIGPIPE, which kills a process that has not
// blocked or ignored it. Under the guard the write fails with EPIPE and the process lives on,
// with no SIGPIPE left pending.

TEST(Bridge, RunsPostedTasksOnTheLoopAndRefusesAfterClose) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto b = std::make_unique<bridge>(&loop);
  b->keep_loop_alive(true);
  std::thread::id ran_on;
  std::thread poster([&] { EXPECT_TRUE(b->post([&] { ran_on = std::this_thread::get_id(); })); });
  poster.join();
  uv_run(&loop, UV_RUN_ONCE);
  EXPECT_EQ(ran_on, std::this_thread::get_id());

  bool queued_ran = false;
  EXPECT_TRUE(b->post([&] { queued_ran = true; }));
  bool closed = false;
  b->close([&] { closed = true; });
  EXPECT_TRUE(queued_ran);  // queued before the close: still runs
  EXPECT_TRUE(b->closed());
  EXPECT_FALSE(b->post([] { ADD_FAILURE() << "ran after close"; }));
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(closed);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace redlock::detail
