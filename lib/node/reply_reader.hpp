// reply_reader: turns the bytes a server sent into replies, with hiredis's redisReader doing
// the parsing (hiredis's async layer, which aborts on a reply nobody asked for, is not used).
//
// A protocol error (a type byte RESP2 does not have, such as RESP3's '>' push, nesting
// deeper than hiredis's 7 levels, a malformed length) or an incomplete reply larger than the
// cap fails the reader for good: the connection it came from must be dropped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "resp.hpp"

struct redisReader;

namespace redlock::detail {

class reply_reader {
 public:
  // Replies (or one reply still incomplete) larger than this fail the reader: none of ours
  // comes near it (INFO is about 5 kB).
  static constexpr std::size_t max_reply_bytes = 1 << 20;

  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  // Adds received bytes. False once the reader has failed (see error()).
  bool feed(std::string_view bytes);
  // The next complete reply, if any. Check failed() when it returns nothing.
  std::optional<reply> next();
  bool failed() const { return !error_.empty(); }
  // Why the reader failed, in words ("protocol error: ...", "reply larger than 1 MiB").
  const std::string& error() const { return error_; }

 private:
  void check_size();

  redisReader* reader_;
  std::string error_;
};

}  // namespace redlock::detail
