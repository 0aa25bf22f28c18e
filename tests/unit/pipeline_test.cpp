// The pipeline's bookkeeping: the window, deadlines from write time, queue time from the
// first chance to leave, and replies matched to the oldest request in flight.
#include "node/pipeline.hpp"

#include <gtest/gtest.h>

namespace redlock::detail {
namespace {

using std::chrono::milliseconds;

pending_request user_request(const std::string& name, milliseconds budget = milliseconds(0)) {
  pending_request r;
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command({"GET", name});
  r.cmd = cmd;
  r.queue_budget = budget;
  return r;
}

const steady::time_point t0(std::chrono::hours(1));

TEST(Pipeline, WritesOnlyWhatTheWindowAllowsAndStampsDeadlinesAtTheWrite) {
  pipeline p(2);
  for (const char* n : {"a", "b", "c"})
    p.enqueue(user_request(n, milliseconds(1000)), steady::time_point::max());
  p.start_queue_time(t0);
  std::string out;
  p.write_into(out, t0 + milliseconds(5), milliseconds(50));
  EXPECT_EQ(out, encode_command({"GET", "a"}) + encode_command({"GET", "b"}));
  EXPECT_EQ(p.in_flight(), 2u);
  EXPECT_EQ(p.unwritten(), 1u);
  EXPECT_TRUE(p.window_full());
  EXPECT_EQ(p.next_deadline(), t0 + milliseconds(55));  // from the write, not the queueing
  EXPECT_FALSE(p.overdue(t0 + milliseconds(54)));
  EXPECT_TRUE(p.overdue(t0 + milliseconds(55)));
  auto oldest = p.take_oldest();
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->cmd->wire, encode_command({"GET", "a"}));
  out.clear();
  p.write_into(out, t0 + milliseconds(6), milliseconds(50));
  EXPECT_EQ(out, encode_command({"GET", "c"}));
}

// A burst queued before the loop ran gets its queue time from the first write, not from when
// it was queued; without a budget, what finds no room fails at that first chance.
TEST(Pipeline, QueueTimeStartsAtTheFirstChanceToLeave) {
  pipeline p(1);
  p.enqueue(user_request("a"), steady::time_point::max());
  p.enqueue(user_request("b"), steady::time_point::max());
  p.enqueue(user_request("c", milliseconds(100)), steady::time_point::max());
  EXPECT_EQ(p.next_deadline(), steady::time_point::max());  // nothing stamped yet
  EXPECT_TRUE(p.take_expired_unwritten(t0 + std::chrono::hours(1)).empty());
  p.start_queue_time(t0);
  std::string out;
  p.write_into(out, t0, milliseconds(50));
  auto expired = p.take_expired_unwritten(t0);
  ASSERT_EQ(expired.size(), 1u);  // b: no budget, no room
  EXPECT_EQ(expired[0].cmd->wire, encode_command({"GET", "b"}));
  EXPECT_EQ(p.unwritten(), 1u);  // c waits, within its 100 ms
  EXPECT_TRUE(p.take_expired_unwritten(t0 + milliseconds(99)).empty());
  EXPECT_EQ(p.take_expired_unwritten(t0 + milliseconds(100)).size(), 1u);
}

// The write is the first chance to leave: what it leaves behind starts its queue time there,
// and what it wrote never had one (no queue end is left to fire for it).
TEST(Pipeline, AWriteStartsTheQueueTimeOfWhatItLeaves) {
  pipeline p(1);
  p.enqueue(user_request("a"), steady::time_point::max());
  p.enqueue(user_request("b", milliseconds(100)), steady::time_point::max());
  std::string out;
  p.write_into(out, t0, milliseconds(50));
  EXPECT_EQ(out, encode_command({"GET", "a"}));
  EXPECT_EQ(p.next_deadline(), t0 + milliseconds(50));  // a's reply, before b's queue end
  ASSERT_TRUE(p.take_oldest());
  EXPECT_EQ(p.next_deadline(), t0 + milliseconds(100));  // b's queue end, from the write
  EXPECT_TRUE(p.take_expired_unwritten(t0 + milliseconds(99)).empty());
  EXPECT_EQ(p.take_expired_unwritten(t0 + milliseconds(100)).size(), 1u);
}

// A wait of "forever" gives a budget of nearly the clock's whole range: its queue end
// saturates (it overflowed before, found by UBSan on `redlock exec --fence` waiting without
// limit).
TEST(Pipeline, AForeverBudgetNeverExpires) {
  pipeline p(1);
  p.enqueue(user_request("a"), steady::time_point::max());
  pending_request forever = user_request("b");
  forever.queue_budget = std::chrono::nanoseconds::max() - std::chrono::nanoseconds(1);
  p.enqueue(std::move(forever), steady::time_point::max());
  p.start_queue_time(t0);
  std::string out;
  p.write_into(out, t0, milliseconds(50));
  EXPECT_TRUE(p.take_expired_unwritten(t0 + std::chrono::hours(24 * 365 * 100)).empty());
  EXPECT_EQ(p.unwritten(), 1u);
}

TEST(Pipeline, AReplyWithNothingInFlightHasNoOwner) {
  pipeline p(4);
  EXPECT_FALSE(p.take_oldest());
  pending_request step;
  step.kind = request_kind::ping;
  step.wire = encode_command({"PING"});
  p.written(std::move(step));
  auto owner = p.take_oldest();
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->kind, request_kind::ping);
  EXPECT_FALSE(p.take_oldest());
}

TEST(Pipeline, TakingEverythingLeavesItEmpty) {
  pipeline p(1);
  p.enqueue(user_request("a"), t0 + milliseconds(10));
  p.enqueue(user_request("b"), steady::time_point::max());
  std::string out;
  p.write_into(out, t0, milliseconds(50));
  EXPECT_EQ(p.take_in_flight().size(), 1u);
  EXPECT_EQ(p.take_unwritten().size(), 1u);
  EXPECT_EQ(p.next_deadline(), steady::time_point::max());
}

}  // namespace
}  // namespace redlock::detail
