#include "counter_store.hpp"

#include <string>
#include <vector>

namespace redlock::torture {

namespace {

// KEYS[1] = counter, KEYS[2] = the counter's fence hash; ARGV = value, fence, token.
// Fences here stay far below 2^53, where tonumber is exact.
constexpr const char* fenced_write_script = R"lua(
local f = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
local last_token = redis.call('HGET', KEYS[2], 'token') or ''
if f > last or (f == last and last_token == ARGV[3]) then
  redis.call('HSET', KEYS[2], 'fence', ARGV[2], 'token', ARGV[3])
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
)lua";

std::string counter_key(const std::string& resource) {
  return "counter:" + resource;
}

}  // namespace

outcome<std::int64_t> counter_store::read(const std::string& resource) {
  auto r = link_.call({"GET", counter_key(resource)});
  if (!r) return fail(r.error());
  if (r->type == store_reply::kind::nil) return std::int64_t{0};
  if (r->type != store_reply::kind::bulk) return fail("store: GET answered " + r->str);
  return static_cast<std::int64_t>(std::stoll(r->str));
}

write_result counter_store::write(const std::string& resource, std::int64_t value) {
  auto r = link_.call({"SET", counter_key(resource), std::to_string(value)});
  if (r && r->type == store_reply::kind::status) return write_result::accepted;
  return write_result::unknown;
}

write_result counter_store::write_fenced(const std::string& resource, std::int64_t value,
                                         std::uint64_t fence, const std::string& token) {
  auto r = link_.call({"EVAL", fenced_write_script, "2", counter_key(resource), "fence:" + resource,
                       std::to_string(value), std::to_string(fence), token});
  if (!r || r->type != store_reply::kind::integer) return write_result::unknown;
  return r->integer == 1 ? write_result::accepted : write_result::refused;
}

}  // namespace redlock::torture
