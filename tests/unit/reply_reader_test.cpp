// The reply reader: hiredis's parser behind a cap, failing for good on what RESP2 does not say.
#include "node/reply_reader.hpp"

#include <gtest/gtest.h>

namespace redlock::detail {
namespace {

TEST(ReplyReader, ReadsPipelinedRepliesSplitAnywhere) {
  reply_reader r;
  std::string bytes = "+OK\r\n:42\r\n$5\r\nhello\r\n*2\r\n$1\r\na\r\n$-1\r\n";
  for (char c : bytes)
    ASSERT_TRUE(r.feed(std::string_view(&c, 1)));
  auto ok = r.next();
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->is_status("OK"));
  EXPECT_EQ(r.next()->integer, 42);
  EXPECT_EQ(r.next()->text, "hello");
  auto array = r.next();
  ASSERT_TRUE(array);
  ASSERT_EQ(array->elements.size(), 2u);
  EXPECT_EQ(array->elements[1].kind, reply::type::nil);
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.failed());
}

TEST(ReplyReader, Resp3PushIsAProtocolError) {
  reply_reader r;
  ASSERT_TRUE(r.feed(">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n"));
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.failed());
  EXPECT_NE(r.error().find("protocol error"), std::string::npos) << r.error();
  EXPECT_FALSE(r.feed("+OK\r\n"));  // failed for good
}

TEST(ReplyReader, AnIncompleteReplyOverTheCapFails) {
  reply_reader r;
  ASSERT_TRUE(r.feed("$100000000\r\n"));
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.failed());  // incomplete, but small so far
  EXPECT_FALSE(r.feed(std::string(reply_reader::max_reply_bytes + 1, 'x')));
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.error(), "reply larger than 1 MiB");
}

}  // namespace
}  // namespace redlock::detail
