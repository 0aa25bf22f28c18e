#include "redlock/result.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

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

TEST(Result, StatusKeepsErrorMessageAndTally) {
  result<int> bad(errc::no_quorum, "no majority for 'r'", two_nodes());
  result<void> status = bad.status();
  EXPECT_EQ(status.error(), errc::no_quorum);
  EXPECT_EQ(status.message(), "no majority for 'r'");
  EXPECT_EQ(status.tally().attempts(), 3);
  result<void> moved = std::move(bad).status();
  EXPECT_EQ(moved.tally().nodes().size(), 2u);

  result<int> ok(1, two_nodes());
  EXPECT_TRUE(ok.status());
  EXPECT_EQ(ok.status().tally().granted(), 1u);
}

// A failure passed on to a result of another type keeps what it says; a success cannot be
// (it has no value to give), and an empty error code cannot be given at all: the error
// constructor takes an errc, none of which is 0.
TEST(Result, FailureOfAnotherResultPassesOnAndSuccessDoesNot) {
  result<void> failed(errc::held_elsewhere, "'r' is held", two_nodes());
  result<std::string> passed = failed;
  EXPECT_FALSE(passed);
  EXPECT_EQ(passed.error(), errc::held_elsewhere);
  EXPECT_EQ(passed.message(), "'r' is held");
  EXPECT_EQ(passed.tally().attempts(), 3);
  EXPECT_THROW(result<std::string>(result<void>()), std::logic_error);
  static_assert(!std::is_constructible_v<result<int>, std::error_code, std::string>);
}

TEST(Result, ConstAccess) {
  const result<std::string> r(std::string("token"));
  EXPECT_EQ(*r, "token");
  EXPECT_EQ(r->size(), 5u);
}

TEST(Errc, RetryableAsTheTableSays) {
  for (errc e : {errc::held_elsewhere, errc::no_quorum, errc::validity_spent, errc::node_down,
                 errc::node_timeout, errc::connection_lost, errc::server_error})
    EXPECT_TRUE(is_retryable(e)) << make_error_code(e).message();
  for (errc e : {errc::lock_lost, errc::invalid_option, errc::invalid_endpoint, errc::empty_lease,
                 errc::client_closed, errc::would_deadlock, errc::misconfigured,
                 errc::config_refused, errc::duplicate_server})
    EXPECT_FALSE(is_retryable(e)) << make_error_code(e).message();
  EXPECT_FALSE(is_retryable(std::error_code()));
  EXPECT_FALSE(is_retryable(std::make_error_code(std::errc::timed_out)));  // not ours
}

TEST(Errc, NamedAsTheTableSays) {
  EXPECT_STREQ(to_string(errc::held_elsewhere), "held_elsewhere");
  EXPECT_STREQ(to_string(errc::cancelled), "cancelled");
  EXPECT_STREQ(to_string(errc::duplicate_server), "duplicate_server");
  EXPECT_STREQ(to_string(static_cast<errc>(999)), "unknown");
}

}  // namespace
}  // namespace redlock
