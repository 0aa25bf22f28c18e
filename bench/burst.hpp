// The burst scenario: B acquires issued at once on one async client, with and without a
// wait budget.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "redlock/redlock.hpp"

namespace redlock::bench {

// Bursts: B acquires issued at once on distinct keys on one async client (the default
// options), then the loop runs until every callback came. Without a wait budget the requests
// beyond a node's window are refused at once (errc::overloaded); with one they queue for room.
// Each row: granted (ops), overloaded, other errors, the time to drain, the time to each grant
// (p50, p99) and the peak growth of resident memory per request while draining.
class burst_measurer {
 public:
  explicit burst_measurer(const std::vector<std::string>& urls);

  row run(std::size_t burst, milliseconds wait);

 private:
  // What a burst's callbacks collected.
  struct outcome;

  // Releases every lease, at most a node's window (512) at a time, and runs the loop
  // until all are done, so that the next burst starts on an idle client and fleet. Released
  // all at once, they would queue past their budget (connect_timeout) and be owed, and the
  // owed releases would then compete with the next burst.
  // Returns how many releases failed; the first failure's message goes to `first_error` if
  // that is still empty.
  std::size_t release_all(std::vector<redlock::lease> leases, std::string& first_error);

  // The requests a client has in flight to one node at most (lib/node/node.cpp); more wait for
  // room within their budget.
  static constexpr std::size_t node_window = 512;
  loop_client client_;
  std::size_t nodes_;
};

}  // namespace redlock::bench
