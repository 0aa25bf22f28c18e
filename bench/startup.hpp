// Start-up: from client::create to the first granted lock on a healthy fleet, against what any
// client pays before its first lock: one connect and one SET (hiredis, blocking).
#pragma once

#include <string>
#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// One TCP connect to the first node and one SET on it, then the connection is closed.
class startup_floor_measurer final : public measurer {
 public:
  explicit startup_floor_measurer(const std::vector<std::string>& urls);

 private:
  void run_for(clock_type::duration slice) override;

  std::string host_;
  int port_ = 0;
  std::size_t next_ = 0;
};

// client::create, then one acquire (its requests wait for the handshakes); the client's
// destruction afterwards is not timed.
class startup_measurer final : public measurer {
 public:
  explicit startup_measurer(const std::vector<std::string>& urls);

 private:
  void run_for(clock_type::duration slice) override;

  redlock::client_options options_;
  std::string prefix_;
  std::size_t next_ = 0;
};

}  // namespace redlock::bench
