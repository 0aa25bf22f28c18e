#include "lock_record.hpp"

#include "quoted.hpp"

namespace redlock::detail {

std::string lock_record::name() const {
  return quoted(resources);
}

bool lock_record::declare_lost(lease_lost why) {
  {
    std::lock_guard<std::mutex> hold(lost_mutex_);
    if (lost_reason_) return false;
    lost_reason_ = std::move(why);
    lost_flag_.store(true, std::memory_order_release);
  }
  lost_cv_.notify_all();
  return true;
}

std::optional<lease_lost> lock_record::lost_reason() const {
  if (!lost_flag_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard<std::mutex> hold(lost_mutex_);
  return lost_reason_;
}

bool lock_record::wait_lost(const clock& time, steady::time_point deadline) const {
  std::unique_lock<std::mutex> hold(lost_mutex_);
  for (;;) {
    steady::time_point now = time.now();
    if (lost(now)) return true;
    if (now >= deadline) return false;
    // valid_until() may move later meanwhile (an extension): look again when this wakes.
    lost_cv_.wait_until(hold, std::min(deadline, valid_until() - lost_margin));
  }
}

}  // namespace redlock::detail
