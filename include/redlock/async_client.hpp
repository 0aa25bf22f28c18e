// async_client: the Redlock client on the caller's libuv loop.
//
//   auto locks = redlock::async_client::create(uv_default_loop(), options);
//   auto started = locks->acquire("orders:42", {}, [](redlock::result<redlock::lease> r) {
//     if (r) use(std::move(*r));
//   });
//   if (!started) log(started.message());    // bad option: the callback will not run
//
// Contract:
//  1. Create, use and destroy it on the thread that runs the loop. Leases it hands out may be
//     destroyed, and their blocking extend()/release() called, from other threads.
//  2. A call that returns an error never runs its callback. A call that succeeds runs its
//     callback exactly once, later, on the loop thread (never inside the call itself).
//  3. The client keeps uv_run alive only while an operation is in flight, while one of its
//     leases holds a lock (another thread may still extend or release it) and while it closes;
//     an idle client with no locks lets uv_run return. Its background work (releases owed to
//     a node that timed out, reconnects) runs while the loop does, but does not keep it
//     alive: a loop that stops meanwhile pays those releases when it next runs, or at close.
//  4. Destroying the client lets the operations in flight finish and run their callbacks
//     (an acquire that wins meanwhile is released and reports client_closed; leases still
//     held are declared lost, then released); afterwards it closes its handles. Keep running
//     the loop until uv_run returns.
//  5. Every write is send(..., MSG_NOSIGNAL): a broken connection never raises SIGPIPE, and
//     the thread's signal mask is left alone.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "redlock/export.hpp"
#include "redlock/health.hpp"
#include "redlock/lease.hpp"
#include "redlock/metrics.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"

namespace redlock {

namespace detail {
class session;
}

class REDLOCK_API async_client {
 public:
  /// Gets an acquire's outcome: the lease, or why there is none.
  using acquire_callback = std::function<void(result<lease>)>;
  /// Gets the outcome of an operation without a value (extend, release, with_lock, ...).
  using done_callback = std::function<void(result<void>)>;

  /// Checks the options (invalid_option / invalid_endpoint name the bad value) and begins
  /// connecting on `loop`.
  static result<async_client> create(uv_loop_t* loop, client_options options);

  async_client(async_client&&) noexcept;
  async_client& operator=(async_client&&) noexcept;
  ~async_client();

  /// As client::acquire; the outcome goes to `done`.
  result<void> acquire(std::string_view resource, const acquire_options& options,
                       acquire_callback done);
  /// As client::acquire_all; the outcome goes to `done`.
  result<void> acquire_all(std::vector<std::string> resources, const acquire_options& options,
                           acquire_callback done);
  /// As lease::extend; `held` may be moved or destroyed before `done` runs.
  result<void> extend(lease& held, std::chrono::milliseconds ttl, done_callback done);
  /// The work with_lock runs under the lock: it gets the lease, and `finished` to call once done.
  using scoped_work = std::function<void(const lease& held, std::function<void()> finished)>;
  /// As client::with_lock, on the loop: once the lock is granted (auto-extended), `work` gets
  /// the lease and `finished`, to call once when the work is done (from the loop thread; the
  /// lease stays valid until then). The lock is then released and `done` gets the outcome:
  /// the acquire's error (`work` did not run), lock_lost (lost while the work ran) or the
  /// release's. `work` must not throw.
  result<void> with_lock(std::string_view resource, acquire_options options, scoped_work work,
                         done_callback done);
  /// with_lock on several resources, taken as acquire_all takes them.
  result<void> with_lock_all(std::vector<std::string> resources, acquire_options options,
                             scoped_work work, done_callback done);
  /// As lease::check_ownership; the outcome goes to `done`.
  result<void> check_ownership(const lease& held, std::function<void(result<ownership>)> done);
  /// As lease::release; the lease is empty when this returns.
  result<void> release(lease held, done_callback done);

  /// As client::wait_ready; the outcome goes to `done`.
  result<void> wait_ready(std::chrono::milliseconds timeout, done_callback done);

  /// Each node's state, last error, counters and latency, in the order of the endpoints
  /// (at once: the client lives on this thread). Errors: client_closed (moved from).
  result<std::vector<node_health>> health() const;
  /// What this client counted about its acquires and leases (metrics.hpp), at once like
  /// health(). Errors: client_closed (moved from).
  result<client_metrics> metrics() const;

 private:
  explicit async_client(std::shared_ptr<detail::session> session) noexcept;
  std::shared_ptr<detail::session> session_;
};

}  // namespace redlock
