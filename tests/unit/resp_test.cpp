#include "resp.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>

namespace redlock::detail {
namespace {

TEST(Resp, EncodesBinarySafeBulkStrings) {
  EXPECT_EQ(encode_command({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  std::string binary("a\0\r\n", 4);
  EXPECT_EQ(encode_command({binary}), std::string("*1\r\n$4\r\na\0\r\n\r\n", 14));
  EXPECT_EQ(encode_command({""}), "*1\r\n$0\r\n\r\n");
}

// What hiredis itself would send for the same arguments.
TEST(Resp, MatchesHiredisFormatting) {
  const char* argv[] = {"SET", "redlock:x", "0123", "NX", "PX", "10000"};
  char* formatted = nullptr;
  int len = redisFormatCommandArgv(&formatted, 6, argv, nullptr);
  ASSERT_GT(len, 0);
  EXPECT_EQ(encode_command({"SET", "redlock:x", "0123", "NX", "PX", "10000"}),
            std::string(formatted, static_cast<std::size_t>(len)));
  redisFreeCommand(formatted);
}

TEST(Resp, EvalFormReplacesTheShaWithTheSource) {
  command c;
  c.wire = encode_command({"EVALSHA", std::string(40, 'a'), "1", "k\r\n", "t", "500"});
  c.script_source = "return redis.call('GET', KEYS[1])\n";
  EXPECT_EQ(eval_wire(c), encode_command({"EVAL", c.script_source, "1", "k\r\n", "t", "500"}));
}

// Feeds wire bytes through hiredis's reader and decodes the result.
reply parse(const std::string& wire) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, wire.data(), wire.size());
  void* raw = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &raw), REDIS_OK);
  reply out = decode_reply(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  redisReaderFree(reader);
  return out;
}

TEST(Resp, ErrorRepliesThatNoRetryFixesAreTold) {
  for (const char* refused :
       {"WRONGPASS invalid username-password pair or user is disabled.",
        "NOAUTH Authentication required.", "NOPERM this user has no permissions to run the 'set'",
        "ERR DB index is out of range",
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?",
        "ERR The user executing the script can't run this command or subcommand script: abc, on "
        "@user_script:18."})
    EXPECT_TRUE(refuses_configuration(refused)) << refused;
  for (const char* passing : {"OOM command not allowed", "BUSY Redis is busy running a script",
                              "LOADING Redis is loading the dataset in memory",
                              "WRONGTYPE Operation against a key holding the wrong kind of value"})
    EXPECT_FALSE(refuses_configuration(passing)) << passing;
}

TEST(Resp, DecodesEveryReplyType) {
  EXPECT_TRUE(parse("+OK\r\n").is_status("OK"));
  reply err = parse("-NOSCRIPT No matching script.\r\n");
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.text, "NOSCRIPT No matching script.");
  reply n = parse(":42\r\n");
  EXPECT_EQ(n.kind, reply::type::integer);
  EXPECT_EQ(n.integer, 42);
  EXPECT_EQ(parse("$-1\r\n").kind, reply::type::nil);
  reply s = parse(std::string("$3\r\na\0b\r\n", 9));
  EXPECT_EQ(s.text, std::string("a\0b", 3));
  reply a = parse("*2\r\n:1\r\n$1\r\nx\r\n");
  ASSERT_EQ(a.elements.size(), 2u);
  EXPECT_EQ(a.describe(), "[1, x]");
  EXPECT_EQ(decode_reply(nullptr).kind, reply::type::nil);
}

}  // namespace
}  // namespace redlock::detail
