// counter_store: the shared resource the lock protects, one counter per lock resource, kept
// on a redis-server that is not a voter. The protected work is read, sleep, write:
//   unfenced: GET then SET (the store takes every write);
//   fenced:   GET then a script that writes only when the fence is above the last accepted
//             one, or equal to it from the same token (one holder may write several times),
//             and says whether it did (docs/torture.md, rule 4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "outcome.hpp"
#include "store_link.hpp"

namespace redlock::torture {

// What a write did: applied (accepted), refused by the fence, or unknown (the store did not
// answer: recorded as not accepted, as docs/torture.md asks).
enum class write_result { accepted, refused, unknown };

class counter_store {
 public:
  explicit counter_store(store_link& link) noexcept : link_(link) {}

  // The counter of `resource` (0 when never written).
  outcome<std::int64_t> read(const std::string& resource);
  write_result write(const std::string& resource, std::int64_t value);
  write_result write_fenced(const std::string& resource, std::int64_t value, std::uint64_t fence,
                            const std::string& token);

 private:
  store_link& link_;
};

}  // namespace redlock::torture
