// Small helpers every test tier wrote for itself: waiting for a condition with a bound, the
// time since a start, and how many descriptors and threads the process has (a destructor that
// closes and joins everything leaves both counts as they were).
//
//   const auto t0 = std::chrono::steady_clock::now();
//   EXPECT_TRUE(eventually([&] { return proxy.open_connections() == 0; }));
//   EXPECT_LT(since(t0), std::chrono::milliseconds(5000));
//   EXPECT_EQ(open_fd_count(), fds_before);
//
// Header-only and without gtest, so the support library, the self-tests and the integration
// fixtures can all use it.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <thread>

namespace redlock::testing {

// Polls `condition` every 5 ms until it holds or `limit` passes; returns whether it held (it
// is asked once more at the limit, so a condition that became true meanwhile still counts).
// The limit only matters when a test fails: it is generous for sanitizer builds.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// Whole milliseconds from `start` until now, on the steady clock.
inline std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// The number of entries in a directory (not recursive).
inline std::size_t entry_count(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++n;
  }
  return n;
}

// The descriptors this process has open right now (the iteration's own one included, so
// compare two counts rather than reading one).
inline std::size_t open_fd_count() {
  return entry_count("/proc/self/fd");
}

// The threads this process runs right now. A thread just joined may still be listed for a
// moment (the kernel wakes the joiner before it has removed the thread's entry).
inline std::size_t thread_count() {
  return entry_count("/proc/self/task");
}

// thread_count() once it has stayed the same for 100 ms (at most 2 s): threads that are ending
// no longer counted.
inline std::size_t settled_thread_count() {
  std::size_t last = thread_count();
  int same = 0;
  for (int i = 0; i < 200 && same < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::size_t now = thread_count();
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

}  // namespace redlock::testing
