#include "redlock/result.hpp"

#include <gtest/gtest.h>

#include <string>
#include <system_error>

namespace redlock {
namespace {

tally two_nodes() {
  std::vector<node_report> nodes(2);
  nodes[0].vote = vote::granted;
  nodes[1].vote = vote::failed;
  return tally(nodes, 3);
}

TEST(Result, ValueOrErrorWithTheTally) {
  result<int> ok(7, two_nodes());
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 7);
  EXPECT_EQ(ok.tally().granted(), 1u);
  EXPECT_EQ(ok.tally().failed(), 1u);
  EXPECT_EQ(ok.tally().attempts(), 3);

  result<int> bad(errc::no_quorum, "no majority for 'r'", two_nodes());
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::no_quorum);
  EXPECT_EQ(bad.error().category().name(), std::string("redlock"));
  EXPECT_EQ(bad.message(), "no majority for 'r'");
}

// Reading the value of an error is a caller bug: it throws, with the result's message.
TEST(Result, ValueOfAnErrorThrows) {
  result<int> bad(errc::held_elsewhere, "'r' is held by another owner");
  try {
    (void)bad.value();
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::held_elsewhere);
    EXPECT_NE(std::string(e.what()).find("held by another owner"), std::string::npos);
  }
  result<void> void_bad(errc::client_closed, "closed");
  EXPECT_THROW(void_bad.value(), std::system_error);
}

TEST(Result, TakeTallyMovesItOut) {
  result<int> r(1, two_nodes());
  tally t = r.take_tally();
  EXPECT_EQ(t.nodes().size(), 2u);
  EXPECT_TRUE(r.tally().nodes().empty());
}

}  // namespace
}  // namespace redlock
