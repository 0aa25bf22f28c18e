// Runs a session operation from a thread other than the loop's and waits for its outcome.
#pragma once

#include <future>
#include <memory>
#include <string>
#include <utility>

#include "session.hpp"

namespace redlock::detail {

// `start(done)` runs on the loop thread and returns result<void>: an error means `done` will
// not run. The calling thread blocks until the outcome is known.
template <class T, class Start>
result<T> run_blocking(session& s, std::string_view what, Start start) {
  if (s.closed()) {
    return {errc::client_closed, "the client is closed; " + std::string(what) + " was not started"};
  }
  if (s.on_loop_thread()) {
    return {errc::would_deadlock,
            std::string(what) + " blocks, and was called on the client's own loop thread"};
  }
  std::promise<result<T>> outcome;
  bool posted = s.post([&outcome, &start] {
    result<void> started = start([&outcome](result<T> r) { outcome.set_value(std::move(r)); });
    if (!started) outcome.set_value(result<T>(std::move(started)));
  });
  if (!posted) {
    return {errc::client_closed, "the client is closed; " + std::string(what) + " was not started"};
  }
  return outcome.get_future().get();
}

}  // namespace redlock::detail
