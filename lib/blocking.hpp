// Runs a session operation from a thread other than the loop's and waits for its outcome.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "session.hpp"

namespace redlock::detail {

// `start(done)` runs on the loop and returns result<void>: an error means `done` will not run.
// The calling thread blocks until the outcome is known; on the client's own loop it runs the
// loop itself meanwhile, unless another thread does (loop_leadership).
template <class T, class Start>
result<T> run_blocking(session& s, std::string_view what, Start start) {
  auto not_started = [&] {
    return result<T>(errc::client_closed,
                     "the client is closed; " + std::string(what) + " was not started");
  };
  if (s.closed()) return not_started();
  if (s.on_loop_thread()) {
    return {errc::would_deadlock,
            std::string(what) + " blocks, and was called on the client's own loop thread"};
  }
  // Written on the loop before `call` finishes; read here after run() returned.
  std::optional<result<T>> outcome;
  loop_leadership::call call;
  bool finished = s.leadership().run(
      [&] {
        result<void> started = start([&](result<T> r) {
          outcome.emplace(std::move(r));
          s.leadership().finish(call);
        });
        if (!started) {
          outcome.emplace(std::move(started));
          s.leadership().finish(call);
        }
      },
      call);
  if (!finished) return not_started();
  return std::move(*outcome);
}

}  // namespace redlock::detail
