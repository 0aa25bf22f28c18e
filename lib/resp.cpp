#include "resp.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstring>

namespace redlock::detail {

namespace {

std::size_t decimal_digits(std::size_t n) {
  std::size_t digits = 1;
  for (; n >= 10; n /= 10)
    ++digits;
  return digits;
}

// Writes "<prefix><n>\r\n" at `at`; returns the end. `at` has room (the size was counted).
char* put_header(char* at, char prefix, std::size_t n) {
  *at++ = prefix;
  at = std::to_chars(at, at + 20, n).ptr;
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

// Sized exactly, then written in place: on the hot path (every acquire and release encodes
// one command), where appending piece by piece cost about a thousand instructions a command.
template <class Args>
std::string encode_args(const Args& args) {
  std::size_t size = 1 + decimal_digits(args.size()) + 2;
  for (std::string_view a : args)
    size += 1 + decimal_digits(a.size()) + 2 + a.size() + 2;
  std::string out(size, '\0');
  char* at = put_header(out.data(), '*', args.size());
  for (std::string_view a : args) {
    at = put_header(at, '$', a.size());
    if (!a.empty()) std::memcpy(at, a.data(), a.size());
    at += a.size();
    *at++ = '\r';
    *at++ = '\n';
  }
  return out;
}

}  // namespace

std::string encode_command(std::initializer_list<std::string_view> args) {
  return encode_args(args);
}

std::string encode_command(const std::vector<std::string_view>& args) {
  return encode_args(args);
}

std::string eval_wire(const command& evalsha) {
  // Skip the array header and the first two bulk strings ("$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n").
  const std::string& w = evalsha.wire;
  std::size_t pos = w.find("\r\n") + 2;
  for (int arg = 0; arg < 2; ++arg) {
    std::size_t eol = w.find("\r\n", pos);
    std::size_t len = std::stoul(w.substr(pos + 1, eol - pos - 1));
    pos = eol + 2 + len + 2;
  }
  std::string out = w.substr(0, w.find("\r\n") + 2);
  out += "$4\r\nEVAL\r\n$";
  out += std::to_string(evalsha.script_source.size());
  out += "\r\n";
  out.append(evalsha.script_source.data(), evalsha.script_source.size());
  out += "\r\n";
  out.append(w, pos, std::string::npos);
  return out;
}

bool refuses_configuration(std::string_view error_reply) {
  auto starts = [&](std::string_view prefix) {
    return error_reply.substr(0, prefix.size()) == prefix;
  };
  auto has = [&](std::string_view text) {
    return error_reply.find(text) != std::string_view::npos;
  };
  return starts("WRONGPASS") || starts("NOAUTH") || starts("NOPERM") ||
         has("DB index") ||                                            // invalid / out of range
         has("called without any password configured") ||              // a password, none set
         has("The user executing the script can't run this command");  // the ACL, in a script
}

std::string reply::describe() const {
  switch (kind) {
    case type::status:
    case type::error:
    case type::string:
      return text;
    case type::integer:
      return std::to_string(integer);
    case type::nil:
      return "(nil)";
    case type::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ", ";
        out += elements[i].describe();
      }
      return out + "]";
    }
  }
  return {};
}

reply decode_reply(const redisReply* r) {
  reply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.kind = reply::type::status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = reply::type::error;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STRING:
      out.kind = reply::type::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = reply::type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(decode_reply(r->element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      break;
  }
  return out;
}

}  // namespace redlock::detail
