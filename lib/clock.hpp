// The monotonic clock every timing decision uses. Tests replace it with a fake.
#pragma once

#include <chrono>

namespace redlock::detail {

using steady = std::chrono::steady_clock;

class clock {
 public:
  virtual ~clock() = default;
  virtual steady::time_point now() const = 0;
};

// t + d, clamped to the clock's range instead of overflowing (a wait of "forever").
inline steady::time_point saturating_add(steady::time_point t, std::chrono::milliseconds d) {
  if (d.count() <= 0) return t;
  auto room = std::chrono::duration_cast<std::chrono::milliseconds>(steady::time_point::max() - t);
  return d >= room ? steady::time_point::max() : t + d;
}

class steady_clock_source final : public clock {
 public:
  steady::time_point now() const override { return steady::now(); }
};

}  // namespace redlock::detail
