// The loop's delayed calls: due order with ties kept in scheduling order, cancellation by id
// (an old id never cancels a newer timer in the same slot), timers scheduled from callbacks,
// and cancelled entries swept so the heap stays near the live count.
#include "timer_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace redlock::detail {
namespace {

using std::chrono::milliseconds;

const steady::time_point t0(std::chrono::hours(1));

TEST(TimerQueue, RunsWhatIsDueInDueOrderAndTiesInSchedulingOrder) {
  timer_queue q;
  std::string ran;
  q.schedule(t0 + milliseconds(20), [&] { ran += 'c'; });
  q.schedule(t0 + milliseconds(10), [&] { ran += 'a'; });
  q.schedule(t0 + milliseconds(10), [&] { ran += 'b'; });
  q.schedule(t0 + milliseconds(30), [&] { ran += 'd'; });
  EXPECT_EQ(q.next_due(), t0 + milliseconds(10));
  q.run_due(t0 + milliseconds(9));
  EXPECT_EQ(ran, "");
  q.run_due(t0 + milliseconds(20));
  EXPECT_EQ(ran, "abc");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.next_due(), t0 + milliseconds(30));
}

TEST(TimerQueue, ACancelledTimerNeverRunsAndItsIdCancelsNothingLater) {
  timer_queue q;
  int first = 0, second = 0;
  timer_queue::timer_id id = q.schedule(t0, [&] { ++first; });
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(q.cancel(id));
  EXPECT_FALSE(q.cancel(id));
  EXPECT_EQ(q.next_due(), steady::time_point::max());
  // The slot is reused with a new generation: the old id does not reach the new timer.
  timer_queue::timer_id again = q.schedule(t0, [&] { ++second; });
  EXPECT_NE(again, id);
  EXPECT_FALSE(q.cancel(id));
  q.run_due(t0);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  EXPECT_FALSE(q.cancel(again));  // it ran
  EXPECT_FALSE(q.cancel(0));
  EXPECT_FALSE(q.cancel(12345));
}

TEST(TimerQueue, CallbacksMayScheduleAndCancel) {
  timer_queue q;
  std::vector<int> ran;
  timer_queue::timer_id later = q.schedule(t0 + milliseconds(5), [&] { ran.push_back(3); });
  q.schedule(t0, [&] {
    ran.push_back(1);
    q.schedule(t0, [&] { ran.push_back(2); });  // due already: runs in the same pass
    q.schedule(t0 + milliseconds(50), [&] { ran.push_back(4); });
    q.cancel(later);
  });
  q.run_due(t0 + milliseconds(10));
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  q.run_due(t0 + milliseconds(50));
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(q.size(), 0u);
}

// A lease released long before its margin cancels a timer that is far from due; thousands of
// those must not leave thousands of dead entries, nor disturb the live ones.
TEST(TimerQueue, CancelledTimersAreSweptAndTheLiveOnesKeepTheirOrder) {
  timer_queue q;
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i)
    q.schedule(t0 + milliseconds(1000 + i), [&ran, i] { ran.push_back(i); });
  for (int i = 0; i < 10000; ++i)
    EXPECT_TRUE(q.cancel(q.schedule(t0 + milliseconds(500), [] { FAIL(); })));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_LE(q.heap_entries(), 64u + 4 * 3u);
  EXPECT_EQ(q.next_due(), t0 + milliseconds(1000));
  q.run_due(t0 + milliseconds(2000));
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
}

TEST(TimerQueue, ClearDropsEverything) {
  timer_queue q;
  bool ran = false;
  timer_queue::timer_id id = q.schedule(t0, [&] { ran = true; });
  q.clear();
  EXPECT_FALSE(q.cancel(id));
  q.run_due(t0);
  EXPECT_FALSE(ran);
  EXPECT_EQ(q.next_due(), steady::time_point::max());
}

}  // namespace
}  // namespace redlock::detail
