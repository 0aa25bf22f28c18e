// ring_queue: a first-in first-out queue in one growing array. A node's requests go in at the
// back and leave at the front one at a time; std::deque, with its blocks of a few large
// elements, allocated and freed a block every couple of requests on that path.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace redlock::detail {

// T must be default-constructible and movable: a slot left holds a default T, so what the
// queue gave up holds nothing (no callback, no shared command) until it is reused.
template <class T>
class ring_queue {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  T& front() { return slots_[head_]; }
  const T& front() const { return slots_[head_]; }
  // The i-th from the front.
  T& at(std::size_t i) { return slots_[(head_ + i) % slots_.size()]; }

  void push_back(T value) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) % slots_.size()] = std::move(value);
    ++size_;
  }
  T pop_front() {
    T out = std::move(slots_[head_]);
    slots_[head_] = T();
    head_ = (head_ + 1) % slots_.size();
    --size_;
    return out;
  }
  // Everything, oldest first; the queue is left empty (its array kept for reuse).
  std::vector<T> take_all() {
    std::vector<T> out;
    out.reserve(size_);
    while (!empty())
      out.push_back(pop_front());
    return out;
  }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 4 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace redlock::detail
