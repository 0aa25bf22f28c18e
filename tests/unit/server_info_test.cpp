#include <gtest/gtest.h>

#include "node_link.hpp"

namespace redlock::detail {
namespace {

TEST(ServerInfo, ReadsRunIdVersionAndUptime) {
  server_info s = parse_server_info(
      "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"
      "run_id:8d3ac6f0b4b5e3a4b0c1d2e3f4a5b6c7d8e9f0a1\r\nuptime_in_seconds:42\r\n");
  EXPECT_EQ(s.redis_version, "7.0.15");
  EXPECT_EQ(s.run_id, "8d3ac6f0b4b5e3a4b0c1d2e3f4a5b6c7d8e9f0a1");
  EXPECT_EQ(s.uptime, std::chrono::seconds(42));
}

TEST(ServerInfo, MissingOrMalformedFieldsStayEmpty) {
  server_info s = parse_server_info("uptime_in_seconds:abc\nrun_id\n:x\n");
  EXPECT_EQ(s.run_id, "");
  EXPECT_EQ(s.uptime, std::chrono::seconds(0));
  EXPECT_EQ(parse_server_info("").run_id, "");
}

}  // namespace
}  // namespace redlock::detail
