// The shared state of a cancel_token: a flag and the acquires listening for it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "redlock/cancel.hpp"

namespace redlock::detail {

struct cancel_state {
  std::atomic<bool> cancelled{false};
  std::mutex mutex;  // guards listeners; never held while one runs
  std::map<std::uint64_t, std::function<void()>> listeners;
  std::uint64_t next_id = 1;

  // `on_cancel` runs once, on the cancelling thread, unless unlisten() came first; it must
  // only hand the work to a loop. Returns 0 (and registers nothing) if already cancelled.
  std::uint64_t listen(std::function<void()> on_cancel);
  void unlisten(std::uint64_t id);
};

struct cancel_access {
  static const std::shared_ptr<cancel_state>& state(const cancel_token& t) { return t.state_; }
};

}  // namespace redlock::detail
