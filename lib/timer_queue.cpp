#include "timer_queue.hpp"

#include <algorithm>

namespace redlock::detail {

timer_queue::timer_id timer_queue::schedule(steady::time_point due, std::function<void()> fn) {
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slot& s = slots_[index];
  s.fn = std::move(fn);
  s.live = true;
  ++live_;
  heap_.push_back({due, next_order_++, index, s.generation});
  std::push_heap(heap_.begin(), heap_.end(), later);
  return (static_cast<timer_id>(s.generation) << 32) | (static_cast<timer_id>(index) + 1);
}

bool timer_queue::cancel(timer_id id) {
  std::uint64_t low = id & 0xffffffffu;
  if (low == 0 || low > slots_.size()) return false;
  auto index = static_cast<std::uint32_t>(low - 1);
  const slot& s = slots_[index];
  if (!s.live || s.generation != static_cast<std::uint32_t>(id >> 32)) return false;
  free_slot(index);
  if (heap_.size() > 64 && heap_.size() > 4 * live_) sweep();
  return true;
}

steady::time_point timer_queue::next_due() {
  drop_stale_top();
  return heap_.empty() ? steady::time_point::max() : heap_.front().due;
}

void timer_queue::run_due(steady::time_point now) {
  while (next_due() <= now) {
    entry top = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    std::function<void()> fn = std::move(slots_[top.slot].fn);
    free_slot(top.slot);
    fn();
  }
}

// Slots are freed, not dropped: their generations go on, so no old id matches a later timer.
void timer_queue::clear() {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].live) free_slot(i);
  }
  heap_.clear();
}

void timer_queue::free_slot(std::uint32_t index) {
  slot& s = slots_[index];
  s.fn = nullptr;
  s.live = false;
  ++s.generation;
  free_.push_back(index);
  --live_;
}

void timer_queue::drop_stale_top() {
  while (!heap_.empty() && stale(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

// Cancelled entries out, so that the heap stays within a few times the live timers (leases
// released long before their margin would otherwise pile up until it passed).
void timer_queue::sweep() {
  heap_.erase(
      std::remove_if(heap_.begin(), heap_.end(), [this](const entry& e) { return stale(e); }),
      heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), later);
}

}  // namespace redlock::detail
