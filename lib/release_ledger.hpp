// release_ledger: the releases owed to one node. A release that could not be delivered to a
// node that may hold our key (down, timed out, an error reply) is remembered here and sent
// again later; the ledger keeps each lock (its token) once, holds at most `capacity` entries, and
// when full gives up the entry whose key expires first, counting every entry it gave up.
// Pure bookkeeping: no I/O, no clock of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clock.hpp"

namespace redlock::detail {

struct owed_release {
  std::vector<std::string> keys;  // of one lock (several for a lock on several resources)
  std::string token;
  // The latest time the keys can still be there, as far as we know (last request + ttl).
  steady::time_point expires;
};

class release_ledger {
 public:
  explicit release_ledger(std::size_t capacity) : capacity_(capacity) {}

  // Remembers a release; an entry already owed keeps the later of the two expiries.
  void owe(owed_release debt);
  // Takes every entry out, in no particular order.
  std::vector<owed_release> take();
  // Counts entries that will never be sent (the client closed while they were owed).
  void give_up(std::size_t count) { dropped_ += count; }

  std::size_t owed() const { return entries_.size(); }
  std::uint64_t dropped() const { return dropped_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::size_t capacity_;
  std::map<std::pair<std::vector<std::string>, std::string>, steady::time_point> entries_;
  std::uint64_t dropped_ = 0;
};

}  // namespace redlock::detail
