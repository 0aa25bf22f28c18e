// What the engine counts about acquires and the keeper about leases, where the events happen
// (the loop thread; no locking), for client_metrics (session::metrics() puts them together).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "clock.hpp"
#include "node/latency.hpp"
#include "redlock/metrics.hpp"

namespace redlock::detail {

// Where `key` is in `keys` (acquire_failure_codes, lease_lost_causes): the index of its
// count; N when it is not there.
template <class Key, std::size_t N>
std::size_t slot_of(const std::array<Key, N>& keys, Key key) {
  std::size_t i = 0;
  while (i < N && keys[i] != key)
    ++i;
  return i;
}

// Durations: the latest 1024 for the quantiles (the window node health uses), and the count
// and sum of all of them.
class duration_record {
 public:
  void record(steady::duration d) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d);
    recent_.record(us);
    ++count_;
    sum_ += us;
  }
  duration_summary summary() const {
    return {recent_.quantile(0.5), recent_.quantile(0.99), count_, sum_};
  }

 private:
  latency_window recent_;
  std::uint64_t count_ = 0;
  std::chrono::microseconds sum_{0};
};

struct acquire_counters {
  std::uint64_t started = 0;
  std::uint64_t attempts = 0;
  std::uint64_t granted = 0;
  std::array<std::uint64_t, acquire_failure_codes.size()> failed{};
  duration_record granted_wait;
  duration_record failed_wait;

  // An acquire had its outcome, `waited` after its call: granted when `error` is empty.
  void finished(std::error_code error, steady::duration waited) {
    if (!error) {
      ++granted;
      granted_wait.record(waited);
      return;
    }
    failed_wait.record(waited);
    if (error.category() != category()) return;
    std::size_t i = slot_of(acquire_failure_codes, static_cast<errc>(error.value()));
    if (i < failed.size()) ++failed[i];
  }
};

struct lease_counters {
  std::array<std::uint64_t, lease_lost_causes.size()> lost{};
  outcome_counts caller_extends;
  outcome_counts auto_extends;
  outcome_counts ownership_checks;

  void lost_by(lease_lost::cause why) { ++lost[slot_of(lease_lost_causes, why)]; }
  static void count(outcome_counts& c, bool succeeded) { ++(succeeded ? c.succeeded : c.failed); }
};

}  // namespace redlock::detail
