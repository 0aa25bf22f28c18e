// session: what client and async_client share. It owns, on one libuv loop, the node
// connections, the quorum engine, the scheduler and the bridge for other threads.
//
// Threads: post(), closed(), on_loop_thread() and clock() may be called from any thread;
// everything else on the loop thread only.
// Lifetime: held by its client and by every lease it granted. close() keeps it alive until
// every handle is closed; afterwards post() refuses work and leases can no longer release.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "clock.hpp"
#include "engine.hpp"
#include "keeper.hpp"
#include "loop.hpp"
#include "loop_leadership.hpp"
#include "node/node.hpp"
#include "node/sentinel_group.hpp"
#include "options.hpp"
#include "redlock/inspect.hpp"
#include "redlock/lease.hpp"
#include "redlock/metrics.hpp"
#include "release_notices.hpp"

namespace redlock::detail {

class session;

// What a lease holds.
struct lease_state {
  std::shared_ptr<session> owner;
  std::shared_ptr<lock_record> lock;
};

// The lease's private constructor and state, for the library.
struct lease_access {
  static lease make(std::shared_ptr<lease_state> state) { return lease(std::move(state)); }
  static std::shared_ptr<lease_state> take(lease& l) { return std::move(l.state_); }
  static const std::shared_ptr<lease_state>& peek(const lease& l) { return l.state_; }
};

// How with_lock ends: lock_lost if the lease was lost while the work ran (`lost`, or by the
// clock: `expired`), else what the release said.
result<void> scoped_outcome(const std::vector<std::string>& resources,
                            const std::optional<lease_lost>& lost, bool expired,
                            result<void> released);

class session : public std::enable_shared_from_this<session> {
 public:
  enum class loop_mode {
    own_thread,   // client: the loop runs on the client's thread while the session is open
    caller_loop,  // async_client: the loop is the caller's; keep it alive only while busy
  };
  using lease_callback = std::function<void(result<lease>)>;

  // Checks the options and builds the session on `loop` (nothing connects before start()).
  static result<std::shared_ptr<session>> create(uv_loop_t* loop, client_options options,
                                                 loop_mode mode);
  session(uv_loop_t* loop, checked_options checked, std::shared_ptr<const tls_context> tls,
          loop_mode mode);
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  // ---- any thread ----
  // Queues `task` for the loop thread; false once the session is closing.
  bool post(std::function<void()> task) { return bridge_.post(std::move(task)); }
  // True once the session stopped taking work from other threads.
  bool closed() { return bridge_.closed(); }
  // Whether this thread runs the loop now (a blocking call here would wait for itself).
  bool on_loop_thread() const { return leadership_.on_loop_thread(); }
  // Who runs the loop while threads wait in blocking calls (run_blocking, client's thread).
  loop_leadership& leadership() { return leadership_; }
  const detail::clock& clock() const { return clock_; }

  // ---- loop thread ----
  void start();
  // An error result means the callback will not run; otherwise it runs exactly once, later.
  // One lock on `resources` (acquire: one; acquire_all: several).
  result<void> acquire(std::vector<std::string> resources, const acquire_options& options,
                       lease_callback done);
  result<void> extend(const std::shared_ptr<lease_state>& held, std::chrono::milliseconds ttl,
                      engine::done_callback done);
  result<void> check(const std::shared_ptr<lease_state>& held, engine::check_callback done);
  // A lock granted elsewhere, known by its resources and token (client::adopt): a lease once
  // one ownership check round found a majority holding the token.
  result<void> adopt(std::vector<std::string> resources, std::string token,
                     std::optional<std::uint64_t> fence, lease_callback done);
  // The lease forgets its lock without releasing it (lease::detach).
  result<void> detach(const std::shared_ptr<lease_state>& held, engine::done_callback done);
  // Each node's PTTL of the resource's key (client::inspect).
  using inspect_callback = std::function<void(result<std::vector<node_lock_state>>)>;
  result<void> inspect(std::string resource, inspect_callback done);
  // `done` may be empty (a destroyed lease).
  result<void> release(const std::shared_ptr<lease_state>& held, engine::done_callback done);
  // `done` runs once a majority of the nodes is connected and may vote, or with why not.
  result<void> wait_ready(std::chrono::milliseconds timeout, engine::done_callback done);
  // One entry per node, in the order of the endpoints.
  std::vector<node_health> health() const;
  // What the engine and the keeper counted, and the leases held now.
  client_metrics metrics() const;
  // Finishes what is in flight (retry waits end with client_closed), then closes every handle
  // and runs `closed`.
  void close(std::function<void()> closed);

 private:
  result<void> refuse_if_closing(std::string_view what) const;
  void release_lock(const std::shared_ptr<lock_record>& lock, engine::done_callback done);
  void finish_detach(std::shared_ptr<lock_record> lock, engine::done_callback done);
  void update_keep_alive();
  void close_handles();

  const client_options options_;
  const loop_mode mode_;
  steady_clock_source clock_;
  loop_services services_;
  bridge bridge_;
  loop_leadership leadership_;
  std::vector<std::unique_ptr<node>> nodes_;
  // The sentinels of each redis+sentinel:// endpoint, shared by its voter and subscriber.
  std::vector<std::shared_ptr<sentinel_group>> groups_;
  std::unique_ptr<engine> engine_;
  std::unique_ptr<keeper> keeper_;            // the granted locks not yet released
  std::unique_ptr<release_notices> notices_;  // wakes the acquires that wait

  bool closing_ = false;
  bool closing_handles_ = false;
  std::function<void()> on_closed_;
  std::shared_ptr<session> keep_alive_;  // while closing
};

}  // namespace redlock::detail
