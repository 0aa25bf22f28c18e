#include "cancel.hpp"

#include <vector>

namespace redlock {

cancel_token::cancel_token() : state_(std::make_shared<detail::cancel_state>()) {}

void cancel_token::cancel() const {
  std::map<std::uint64_t, std::function<void()>> told;
  {
    std::lock_guard<std::mutex> hold(state_->mutex);
    if (state_->cancelled.exchange(true)) return;
    told.swap(state_->listeners);
  }
  for (auto& [id, on_cancel] : told)
    on_cancel();
}

bool cancel_token::cancelled() const noexcept {
  return state_->cancelled.load(std::memory_order_acquire);
}

namespace detail {

std::uint64_t cancel_state::listen(std::function<void()> on_cancel) {
  std::lock_guard<std::mutex> hold(mutex);
  if (cancelled.load()) return 0;
  std::uint64_t id = next_id++;
  listeners.emplace(id, std::move(on_cancel));
  return id;
}

void cancel_state::unlisten(std::uint64_t id) {
  std::lock_guard<std::mutex> hold(mutex);
  listeners.erase(id);
}

}  // namespace detail
}  // namespace redlock
