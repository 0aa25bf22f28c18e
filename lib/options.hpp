// Checks of client_options and acquire arguments. Each failure names the option, the value
// and what was expected, e.g. "invalid option node_timeout: must be > 0 ms (got 0 ms)".
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

#include "endpoint.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

struct checked_options {
  client_options options;
  std::vector<endpoint> endpoints;  // parsed, in the given order
};

// The longest ttl accepted: one year keeps every deadline far from overflowing.
constexpr std::chrono::milliseconds max_ttl = std::chrono::hours(24 * 365);

result<checked_options> check_client_options(client_options options);
// The most resources one lock may take (acquire_all): one script call holds a node for about
// a microsecond per key.
constexpr std::size_t max_resources = 1000;
// `resources`: one (acquire) or more (acquire_all), each non-empty, no two the same.
result<void> check_resources(const std::vector<std::string>& resources);
// A lock token handed in from outside (client::adopt): 32 lowercase hex digits.
result<void> check_token(std::string_view token);
// check_resources, and the acquire options.
result<void> check_acquire(const std::vector<std::string>& resources,
                           const acquire_options& acquire, const client_options& client);
// The ttl of acquire or extend.
result<void> check_ttl(std::chrono::milliseconds ttl, const client_options& client);

}  // namespace redlock::detail
