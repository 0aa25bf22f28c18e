// The Lua scripts of lib/scripts/, embedded at build time with their SHA-1 (computed by
// CMake) for EVALSHA.
#pragma once

#include <string_view>

namespace redlock::detail {

struct script {
  std::string_view name;
  std::string_view source;
  std::string_view sha1;  // 40 lowercase hex digits
};

extern const script acquire_script;  // a waiting acquire's SET, announced to other waiters
extern const script release_script;
extern const script extend_script;
// The automatic extensions of many leases at once (keeper batches): one result per key.
extern const script extend_many_script;
extern const script check_script;
// Fencing tokens (acquire_options::fencing): the acquire step and the write-back.
extern const script acquire_fenced_script;
extern const script fence_write_script;
// A node's fence hash given back the fleet's numbers (fence_seeder.hpp).
extern const script fence_seed_script;

}  // namespace redlock::detail
