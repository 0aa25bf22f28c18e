// What the quorum engine needs from one node: send a command, get exactly one answer later.
// The real implementation is `node` (hiredis on libuv); unit tests use fakes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "resp.hpp"

namespace redlock::detail {

// The outcome of one request to one node.
struct node_answer {
  std::error_code error;  // empty: `value` holds the node's reply (which may be an error reply)
  std::string detail;     // the system's or server's words for `error`
  reply value;
  // False only when the request certainly never reached the node (it was down, or the
  // request expired before it could be written). Otherwise the node may have run it, even
  // if we never saw the answer.
  bool maybe_ran = true;
  std::chrono::microseconds latency{0};
};

using answer_callback = std::function<void(node_answer)>;

class node_link {
 public:
  virtual ~node_link() = default;

  // Sends `cmd`. `done` runs exactly once, on the loop thread, and never inside send().
  virtual void send(std::shared_ptr<const command> cmd, answer_callback done) = 0;
  // `ready` runs after every successful (re)connect, on the loop thread.
  virtual void on_ready(std::function<void()> ready) = 0;
  // The node's URL for reports, password masked.
  virtual const std::string& name() const = 0;
};

// Deferred and delayed work on the loop thread.
class scheduler {
 public:
  using timer_id = std::uint64_t;
  virtual ~scheduler() = default;
  // Runs `fn` soon on the loop thread, never inside the caller.
  virtual void defer(std::function<void()> fn) = 0;
  // Runs `fn` after `delay` unless cancelled first.
  virtual timer_id schedule(std::chrono::nanoseconds delay, std::function<void()> fn) = 0;
  // Cancels a scheduled call; returns false when it already ran or was cancelled.
  virtual bool cancel(timer_id id) = 0;
};

}  // namespace redlock::detail
