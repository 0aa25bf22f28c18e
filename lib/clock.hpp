// The monotonic clock every timing decision uses. Tests replace it with a fake.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

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

// The same for a duration of the clock's own resolution (a request's queue budget, which a
// wait of "forever" makes nearly the clock's whole range).
inline steady::time_point saturating_add(steady::time_point t, steady::duration d) {
  if (d.count() <= 0) return t;
  return d >= steady::time_point::max() - t ? steady::time_point::max() : t + d;
}

// The delay for a libuv timer that must not fire before `wait` has passed: libuv timers count
// whole milliseconds, so round up; a deadline already passed is 0.
inline std::uint64_t timer_delay_ms(steady::duration wait) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

// "50 ms", for messages.
inline std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

class steady_clock_source final : public clock {
 public:
  steady::time_point now() const override { return steady::now(); }
};

}  // namespace redlock::detail
