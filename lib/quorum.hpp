// The pure arithmetic of a Redlock round: how many votes make a majority, when the outcome is
// known under each rule, and how long a granted lock stays valid. No I/O, no clock of its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "clock.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

constexpr std::size_t quorum_of(std::size_t nodes) {
  return nodes / 2 + 1;
}

enum class decision { pending, won, lost };

// How a round is decided.
enum class rule {
  // acquire, extend: won once a majority granted; lost once refusals and failures leave too
  // few nodes for that.
  majority_granted,
  // release: won once a majority confirmed our key is gone (granted = deleted, refused = not
  // there); lost once failures leave too few nodes for that.
  majority_confirmed,
  // clean-ups and owed releases: nobody waits for an early outcome; decided when every
  // node asked has answered (won if none failed).
  every_answer,
};

// Counts the votes of one round over `voters` nodes (those asked) and decides as soon as the
// outcome is certain under `r`; `needed` is the majority of the whole fleet, which may be
// more than half of the voters when only some nodes are asked.
class vote_counter {
 public:
  vote_counter(rule r, std::size_t voters, std::size_t needed)
      : rule_(r), voters_(voters), needed_(needed) {}

  // `permanent`: a failure no retry fixes (config_refused, duplicate_server).
  void record(vote v, bool permanent = false) {
    switch (v) {
      case vote::granted:
        ++granted_;
        break;
      case vote::refused:
        ++refused_;
        break;
      case vote::failed:
        ++failed_;
        if (permanent) ++permanent_;
        break;
      case vote::unanswered:
        break;
    }
  }

  decision state() const {
    switch (rule_) {
      case rule::majority_granted:
        if (granted_ >= needed_) return decision::won;
        if (refused_ + failed_ + needed_ > voters_) return decision::lost;
        return decision::pending;
      case rule::majority_confirmed:
        if (granted_ + refused_ >= needed_) return decision::won;
        if (failed_ + needed_ > voters_) return decision::lost;
        return decision::pending;
      case rule::every_answer:
        if (!complete()) return decision::pending;
        return failed_ == 0 ? decision::won : decision::lost;
    }
    return decision::pending;
  }
  // True when the refusals alone rule out a majority: the lock is definitely held by
  // someone else (acquire) or definitely gone (extend), whatever the failed nodes hold.
  bool refusals_decide() const { return refused_ + needed_ > voters_; }
  // True when failures that no retry fixes alone rule out a majority.
  bool permanent_failures_decide() const { return permanent_ + needed_ > voters_; }
  // True once every voter has voted.
  bool complete() const { return granted_ + refused_ + failed_ == voters_; }

  std::size_t granted() const { return granted_; }
  std::size_t refused() const { return refused_; }
  std::size_t failed() const { return failed_; }

 private:
  rule rule_;
  std::size_t voters_;
  std::size_t needed_;
  std::size_t granted_ = 0;
  std::size_t refused_ = 0;
  std::size_t failed_ = 0;
  std::size_t permanent_ = 0;
};

// The clock drift allowance of DESIGN.md: ttl * drift_factor + 2 ms.
inline std::chrono::nanoseconds drift_allowance(std::chrono::milliseconds ttl,
                                                double drift_factor) {
  auto scaled = std::chrono::duration<double, std::nano>(ttl) * drift_factor;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(scaled) +
         std::chrono::milliseconds(2);
}

// The end of a lock's validity for a round that started at `start`: validity = ttl - elapsed
// - drift, so the lock is valid until start + ttl - drift. A lock is handed out only while
// now < valid_until.
inline steady::time_point validity_deadline(steady::time_point start, std::chrono::milliseconds ttl,
                                            double drift_factor) {
  return start +
         std::chrono::duration_cast<steady::duration>(ttl - drift_allowance(ttl, drift_factor));
}

// The ttl an extend round may count on after a majority granted it: each granting node holds
// our key for at least min(its new ttl, the shortest ttl of any earlier extend that node may
// still run late); the lock is safe while `needed` nodes hold it, so the needed-th longest of
// those lifetimes counts. `lifetimes` holds one entry per granting node.
inline std::chrono::milliseconds guaranteed_ttl(std::vector<std::chrono::milliseconds> lifetimes,
                                                std::size_t needed) {
  if (needed == 0 || lifetimes.size() < needed) return std::chrono::milliseconds(0);
  std::nth_element(lifetimes.begin(), lifetimes.begin() + static_cast<std::ptrdiff_t>(needed - 1),
                   lifetimes.end(), std::greater<>());
  return lifetimes[needed - 1];
}

}  // namespace redlock::detail
