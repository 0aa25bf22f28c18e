// client_metrics: what a client counted about its acquires and leases since it was created,
// for a service to export next to health() (prometheus.hpp renders both).
//
//   redlock::result<redlock::client_metrics> m = locks->metrics();
//   if (m && m->failed(redlock::errc::held_elsewhere) > 0) note_contention();
//
// Counters only grow. Acquires the call itself refuses (invalid_option, would_deadlock, a
// closed client, a cancel_token cancelled before the call) never start and are not counted.
// Contention shows as failures by held_elsewhere, as attempts per acquire above 1 and as the
// wait time of acquires. Attempts per grant over a period is the increase of `attempts`
// divided by that of `granted` (PromQL:
// rate(redlock_acquire_attempts_total[5m]) / rate(redlock_acquire_grants_total[5m])).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "redlock/error.hpp"
#include "redlock/lost.hpp"

namespace redlock {

/// The codes an acquire that started can fail with, in the order of
/// client_metrics::acquires_failed.
inline constexpr std::array<errc, 8> acquire_failure_codes = {
    errc::held_elsewhere, errc::no_quorum, errc::validity_spent, errc::misconfigured,
    errc::overloaded,     errc::cancelled, errc::client_closed,  errc::fence_exhausted,
};

/// Every lease_lost::cause, in the order of client_metrics::leases_lost.
inline constexpr std::array<lease_lost::cause, 4> lease_lost_causes = {
    lease_lost::cause::refused,
    lease_lost::cause::margin_reached,
    lease_lost::cause::max_hold_reached,
    lease_lost::cause::client_closed,
};

/// Durations of finished operations: quantiles over the most recent 1024 (not over a time
/// window; zero before any), and the count and sum of all of them, for rates and means.
struct duration_summary {
  std::chrono::microseconds p50{0};
  std::chrono::microseconds p99{0};
  std::uint64_t count = 0;
  std::chrono::microseconds sum{0};
};

/// An extend or an ownership check: how many ended in success, how many in an error (of
/// every kind: lock_lost, no_quorum, empty_lease, ...).
struct outcome_counts {
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
};

struct client_metrics {
  // ---- acquires ----
  std::uint64_t acquires = 0;  ///< acquires started
  /// Acquires a majority granted. One granted while the client closes is released at once
  /// and its caller told client_closed; it counts here.
  std::uint64_t granted = 0;
  /// Acquires that ended in each code of acquire_failure_codes, in that order (failed()
  /// looks one up). Each failure counts once, with the code of its outcome, however many
  /// attempts it made.
  std::array<std::uint64_t, acquire_failure_codes.size()> acquires_failed{};
  /// Rounds sent by acquires (the first attempt and each retry), granted or not.
  std::uint64_t attempts = 0;
  ///@{
  /// From the call to the outcome: of granted acquires, and of failed ones (a busy lock
  /// with a wait budget costs up to that budget, retries included).
  duration_summary granted_wait;
  duration_summary failed_wait;
  ///@}

  // ---- leases ----
  std::uint64_t leases_held = 0;  ///< now: granted and not yet released
  /// Leases declared lost, by each cause of lease_lost_causes, in that order (lost()
  /// looks one up).
  std::array<std::uint64_t, lease_lost_causes.size()> leases_lost{};
  ///@{
  /// Extends of held leases: those the caller asked for (lease::extend, async_client::extend)
  /// and the automatic ones (acquire_options::auto_extend), one count per extend round.
  outcome_counts caller_extends;
  outcome_counts auto_extends;
  ///@}
  /// Ownership checks (lease::check_ownership): failed includes lock_lost and no_quorum.
  outcome_counts ownership_checks;

  /// The count of acquires that failed with `code`; zero for a code no acquire ends with.
  std::uint64_t failed(errc code) const noexcept {
    for (std::size_t i = 0; i < acquire_failure_codes.size(); ++i) {
      if (acquire_failure_codes[i] == code) return acquires_failed[i];
    }
    return 0;
  }
  /// The count of leases lost because of `why`.
  std::uint64_t lost(lease_lost::cause why) const noexcept {
    for (std::size_t i = 0; i < lease_lost_causes.size(); ++i) {
      if (lease_lost_causes[i] == why) return leases_lost[i];
    }
    return 0;
  }
};

}  // namespace redlock
