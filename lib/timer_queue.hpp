// timer_queue: the delayed calls of one loop, without I/O: a binary heap of due times over a
// pool of slots that hold the callbacks. Scheduling and cancelling allocate nothing once the
// arrays have grown (the map pair it replaces cost two allocations a timer, and a keeper arms
// one timer per lease); a cancelled timer leaves its heap entry behind, skipped when it comes
// up and swept out when such entries outnumber the live ones.
//
// An id names one scheduling: (generation << 32) | (slot + 1), never 0; a slot reused gets a
// new generation, so an old id cancels nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "clock.hpp"

namespace redlock::detail {

class timer_queue {
 public:
  using timer_id = std::uint64_t;

  timer_id schedule(steady::time_point due, std::function<void()> fn);
  // False when `id` already ran, was cancelled, or never was.
  bool cancel(timer_id id);
  // The earliest due time of a live timer; time_point::max() when none.
  steady::time_point next_due();
  // Runs, in due order (ties in the order scheduled), every timer due at `now`, including
  // those the callbacks schedule due by then. A callback may schedule and cancel.
  void run_due(steady::time_point now);
  std::size_t size() const { return live_; }
  // Heap entries, cancelled ones included (for the test of the sweep).
  std::size_t heap_entries() const { return heap_.size(); }
  void clear();

 private:
  struct slot {
    std::function<void()> fn;
    std::uint32_t generation = 0;
    bool live = false;
  };
  struct entry {
    steady::time_point due;
    std::uint64_t order;  // ties: the earlier scheduled first
    std::uint32_t slot;
    std::uint32_t generation;
  };
  static bool later(const entry& a, const entry& b) {
    return a.due != b.due ? a.due > b.due : a.order > b.order;
  }
  bool stale(const entry& e) const {
    return !slots_[e.slot].live || slots_[e.slot].generation != e.generation;
  }
  void free_slot(std::uint32_t index);
  void drop_stale_top();
  void sweep();

  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<entry> heap_;
  std::uint64_t next_order_ = 0;
  std::size_t live_ = 0;
};

}  // namespace redlock::detail
