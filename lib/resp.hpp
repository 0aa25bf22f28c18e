// RESP (the Redis protocol) on our side: commands encoded once and shared by every node of a
// round, and replies decoded into value types inside the hiredis callback (a redisReply dies
// when its callback returns).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace redlock::detail {

// One command, encoded once and sent to every node of a round.
struct command {
  std::string wire;  // RESP bytes
  // For EVALSHA <sha> ...: the script's source, so that a node answering NOSCRIPT (its script
  // cache is empty after a restart or SCRIPT FLUSH) gets the same call as EVAL (eval_wire).
  // Empty for other commands.
  std::string_view script_source;
};

// The EVAL form of an EVALSHA command: the same arguments with the first two (EVALSHA and the
// SHA-1) replaced by EVAL and the script's source. Built only when a node needs it.
std::string eval_wire(const command& evalsha);

// Encodes a command as a RESP array of bulk strings; arguments are binary-safe.
std::string encode_command(std::initializer_list<std::string_view> args);
// The same, for an argument list built at run time (a batch's keys and tokens).
std::string encode_command(const std::vector<std::string_view>& args);

// A decoded reply.
struct reply {
  enum class type { status, error, integer, nil, string, array };
  type kind = type::nil;
  std::string text;             // status, error and string replies
  long long integer = 0;        // integer replies
  std::vector<reply> elements;  // array replies

  bool is_status(std::string_view s) const { return kind == type::status && text == s; }
  bool is_error() const { return kind == type::error; }
  // The reply as one line for messages: errors and statuses verbatim, "(nil)", integers...
  std::string describe() const;
};

// Whether an error reply refuses our credentials, ACL permissions or db (WRONGPASS, NOAUTH,
// NOPERM, "DB index is out of range", a password for a server that has none ("AUTH <password>
// called without any password configured"), and a script's command denied by the ACL: "The user
// executing the script can't run this command"): no retry fixes those.
bool refuses_configuration(std::string_view error_reply);

// Copies a hiredis reply into a value; a null pointer (no reply) decodes as nil.
reply decode_reply(const redisReply* r);

}  // namespace redlock::detail
