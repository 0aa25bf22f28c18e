// cancel_token: calls off an acquire (waiting for a busy lock or for failing nodes), from any
// thread.
//
//   redlock::cancel_token stop;
//   redlock::acquire_options o;
//   o.wait = 30s;
//   o.cancel = stop;
//   std::thread t([&] { auto held = locks->acquire("job", o); ... });
//   stop.cancel();   // the acquire returns errc::cancelled at once
//
// Copies share one state: cancelling any cancels all. A token stays cancelled; an acquire
// started with a cancelled token fails at once. A round already sent is not called back:
// if it wins, the lock is released at once and the caller still gets cancelled.
#pragma once

#include <functional>
#include <memory>

#include "redlock/export.hpp"

namespace redlock {

namespace detail {
struct cancel_state;
struct cancel_access;
}  // namespace detail

class REDLOCK_API cancel_token {
 public:
  cancel_token();
  /// Any thread; idempotent. Runs nothing of the caller's: the acquires it calls off finish
  /// on their clients' loops.
  void cancel() const;
  /// Whether cancel() was called on this token or a copy of it. Any thread.
  bool cancelled() const noexcept;

 private:
  friend struct detail::cancel_access;
  std::shared_ptr<detail::cancel_state> state_;
};

}  // namespace redlock
