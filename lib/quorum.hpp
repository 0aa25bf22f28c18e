// The pure arithmetic of a Redlock round: how many votes make a majority, when the outcome is
// known, and how long a granted lock stays valid. No I/O, no clock of its own.
#pragma once

#include <chrono>
#include <cstddef>

#include "clock.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

constexpr std::size_t quorum_of(std::size_t nodes) {
  return nodes / 2 + 1;
}

enum class decision { pending, won, lost };

// Counts the votes of one round over `nodes` nodes and decides as soon as the outcome is
// certain: won at quorum granted; lost once refused + failed make a majority impossible.
class vote_counter {
 public:
  explicit vote_counter(std::size_t nodes) : nodes_(nodes) {}

  void record(vote v) {
    switch (v) {
      case vote::granted:
        ++granted_;
        break;
      case vote::refused:
        ++refused_;
        break;
      case vote::failed:
        ++failed_;
        break;
      case vote::unanswered:
        break;
    }
  }
  decision state() const {
    if (granted_ >= quorum_of(nodes_)) return decision::won;
    if (refused_ + failed_ > nodes_ - quorum_of(nodes_)) return decision::lost;
    return decision::pending;
  }
  // True when the refusals alone rule out a majority: the lock is definitely held by
  // someone else (acquire) or definitely gone (extend), whatever the failed nodes hold.
  bool refusals_decide() const { return refused_ > nodes_ - quorum_of(nodes_); }
  // True once every node has voted.
  bool complete() const { return granted_ + refused_ + failed_ == nodes_; }

  std::size_t granted() const { return granted_; }
  std::size_t refused() const { return refused_; }
  std::size_t failed() const { return failed_; }

 private:
  std::size_t nodes_;
  std::size_t granted_ = 0;
  std::size_t refused_ = 0;
  std::size_t failed_ = 0;
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

}  // namespace redlock::detail
