// latency_window: the latencies of a node's last 1024 answered requests, for health().
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace redlock::detail {

class latency_window {
 public:
  void record(std::chrono::microseconds latency) {
    auto us = static_cast<std::uint32_t>(std::min<std::chrono::microseconds::rep>(
        std::max<std::int64_t>(latency.count(), 0), UINT32_MAX));
    if (kept_.size() < capacity) {
      kept_.push_back(us);
    } else {
      kept_[next_] = us;
      next_ = (next_ + 1) % capacity;
    }
  }
  bool empty() const { return kept_.empty(); }
  // The q-quantile (0..1) of what is kept; zero when empty.
  std::chrono::microseconds quantile(double q) const {
    if (kept_.empty()) return std::chrono::microseconds(0);
    std::vector<std::uint32_t> sorted = kept_;
    std::sort(sorted.begin(), sorted.end());
    return std::chrono::microseconds(
        sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))]);
  }

 private:
  static constexpr std::size_t capacity = 1024;
  std::vector<std::uint32_t> kept_;
  std::size_t next_ = 0;
};

}  // namespace redlock::detail
