#include "release_ledger.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace redlock::detail {
namespace {

using std::chrono::seconds;

steady::time_point at(int s) {
  return steady::time_point(seconds(s));
}

std::vector<std::string> tokens(std::vector<owed_release> debts) {
  std::vector<std::string> out;
  for (auto& d : debts)
    out.push_back(d.token);
  return out;
}

TEST(ReleaseLedger, KeepsEachKeyAndTokenOnceWithTheLaterExpiry) {
  release_ledger ledger(10);
  ledger.owe({{"k"}, "t1", at(5)});
  ledger.owe({{"k"}, "t1", at(9)});
  ledger.owe({{"k"}, "t1", at(3)});
  ledger.owe({{"k"}, "t2", at(1)});  // another owner's token for the same key: its own entry
  EXPECT_EQ(ledger.owed(), 2u);
  auto debts = ledger.take();
  ASSERT_EQ(debts.size(), 2u);
  EXPECT_EQ(debts[0].expires, at(9));
  EXPECT_TRUE(ledger.empty());
  EXPECT_EQ(ledger.dropped(), 0u);
}

TEST(ReleaseLedger, WhenFullGivesUpWhatExpiresFirstAndCountsIt) {
  release_ledger ledger(2);
  ledger.owe({{"a"}, "ta", at(30)});
  ledger.owe({{"b"}, "tb", at(10)});
  ledger.owe({{"c"}, "tc", at(20)});  // b goes
  EXPECT_EQ(ledger.dropped(), 1u);
  ledger.owe({{"d"}, "td", at(5)});  // expires before everything kept: d itself goes
  EXPECT_EQ(ledger.dropped(), 2u);
  EXPECT_THAT(tokens(ledger.take()), ::testing::UnorderedElementsAre("ta", "tc"));
}

TEST(ReleaseLedger, GivingUpIsCounted) {
  release_ledger ledger(0);
  ledger.owe({{"a"}, "t", at(1)});
  EXPECT_EQ(ledger.owed(), 0u);
  EXPECT_EQ(ledger.dropped(), 1u);
  ledger.give_up(3);
  EXPECT_EQ(ledger.dropped(), 4u);
}

}  // namespace
}  // namespace redlock::detail
