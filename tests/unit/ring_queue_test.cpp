// The requests' queue: first in, first out across its growth and its wrap-around, and what
// leaves holds nothing behind.
#include "ring_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace redlock::detail {
namespace {

TEST(RingQueue, KeepsOrderAcrossWrapAroundAndGrowth) {
  ring_queue<int> q;
  int next_in = 0, next_out = 0;
  // Three in, two out, many times: the front moves round the array while it grows.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i)
      q.push_back(next_in++);
    for (int i = 0; i < 2; ++i)
      ASSERT_EQ(q.pop_front(), next_out++);
  }
  EXPECT_EQ(q.size(), 200u);
  EXPECT_EQ(q.front(), next_out);
  EXPECT_EQ(q.at(199), next_in - 1);
  std::vector<int> rest = q.take_all();
  ASSERT_EQ(rest.size(), 200u);
  for (int v : rest)
    EXPECT_EQ(v, next_out++);
  EXPECT_TRUE(q.empty());
}

TEST(RingQueue, WhatLeavesIsNotKeptAlive) {
  ring_queue<std::shared_ptr<int>> q;
  auto value = std::make_shared<int>(7);
  std::weak_ptr<int> watch = value;
  q.push_back(std::move(value));
  std::shared_ptr<int> out = q.pop_front();
  EXPECT_EQ(*out, 7);
  out.reset();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace redlock::detail
