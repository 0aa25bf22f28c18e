// client: the blocking, thread-safe Redlock client. It owns an event loop, one connection per
// node and one background thread. A thread blocked in one of its calls runs the loop itself
// while no other thread does (so a lone caller pays no hand-off between threads); the
// background thread runs it while no caller does.
//
//   redlock::client_options options;
//   options.endpoints = {"redis://10.0.0.1:6379", "redis://10.0.0.2:6379",
//                        "redis://10.0.0.3:6379"};
//   auto locks = redlock::client::create(options);
//   if (!locks) die(locks.message());
//   redlock::acquire_options once;
//   once.wait = 2s;  // retry for up to 2 s while the lock is busy or nodes fail
//   redlock::result<redlock::lease> l = locks->acquire("orders:42", once);
//
// Contract:
//  1. Every method may be called from any number of threads at once.
//  2. acquire blocks the calling thread until the lock is granted or refused; with a wait
//     budget it retries (retry_delay + jitter) until the budget is spent.
//  3. Connections are made in the background from create() on; a node that is down fails
//     each request at once and is reconnected with exponential backoff.
//  4. The destructor declares the leases still held lost (their on_lost callbacks run) and
//     releases them, lets requests already sent finish (at most about one node_timeout),
//     then closes the connections and joins the thread. A lease that outlives its client is
//     lost, and its keys are gone.
//  5. Every write is send(..., MSG_NOSIGNAL): a broken connection never raises SIGPIPE.
//  6. Callbacks (acquire_options::on_lost) run on whichever thread runs the loop at that
//     moment: the background thread, or a thread of yours blocked in a call on this client
//     (even one whose own call has just been answered). A blocking call made from such a
//     callback returns errc::would_deadlock; an exception thrown from it ends the process.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redlock/export.hpp"
#include "redlock/health.hpp"
#include "redlock/inspect.hpp"
#include "redlock/lease.hpp"
#include "redlock/metrics.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"

namespace redlock {

namespace detail {
class session;
}

class REDLOCK_API client {
 public:
  /// Checks the options (invalid_option / invalid_endpoint name the bad value), starts the
  /// background thread and begins connecting. It does not wait for the connections (requests
  /// made meanwhile wait for the handshakes).
  static result<client> create(client_options options);

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Takes `resource` on a majority of the nodes. Errors: held_elsewhere, no_quorum,
  /// validity_spent (each after the wait budget is spent; the tally is the last round's),
  /// misconfigured (at once, without retrying: nodes refuse our credentials, permissions or
  /// db, or name the same server twice, so no majority is possible), invalid_option,
  /// client_closed, would_deadlock.
  result<lease> acquire(std::string_view resource, const acquire_options& options = {});

  /// Takes every one of `resources` in one lock, all or nothing: each node sets all of their
  /// keys in one script, or none when any of them is held there; the round needs a majority
  /// that set them all, and a lost round leaves no key of ours on any node. The lease lists
  /// them (lease::resources()); it is extended, checked, released and lost as one lock, and
  /// with fencing its one number is greater than every earlier one of each of them.
  ///   auto both = locks->acquire_all({"accounts:1", "accounts:2"});
  /// Errors: as acquire (held_elsewhere names the resources the nodes found held), and
  /// invalid_option for no resources, an empty one, one named twice, or more than 1,000.
  result<lease> acquire_all(std::vector<std::string> resources,
                            const acquire_options& options = {});

  /// Runs `work` while holding `resource`: acquires it with `options` (auto-extension turned
  /// on), keeps it alive while `work` runs, and releases it when `work` returns or throws
  /// (an exception is passed on after the release). `work` gets the lease: it should check
  /// lost() (or wait_lost()) and stop once the lock is lost.
  ///   auto done = locks->with_lock("reports", {}, [](const redlock::lease& held) {
  ///     while (!held.lost() && more_to_do()) do_a_piece();
  ///   });
  /// Errors: those of acquire (then `work` did not run); lock_lost (the lease was lost while
  /// `work` ran: the message says why; the keys left were released); those of release.
  result<void> with_lock(std::string_view resource, acquire_options options,
                         const std::function<void(const lease& held)>& work);
  /// with_lock on several resources, taken as acquire_all takes them.
  result<void> with_lock_all(std::vector<std::string> resources, acquire_options options,
                             const std::function<void(const lease& held)>& work);

  /// Blocks until a majority of the nodes is connected and may vote, for a service that
  /// wants to fail fast at start-up:
  ///   if (auto ready = locks->wait_ready(5s); !ready) die(ready.message());
  /// Errors: misconfigured (as soon as refusals no retry fixes rule a majority out),
  /// no_quorum (not within `timeout`; the message names each node's state and last error),
  /// invalid_option (negative timeout), client_closed, would_deadlock. The tally: granted =
  /// connected and voting, failed = not (with why), unanswered = still connecting.
  result<void> wait_ready(std::chrono::milliseconds timeout);

  /// Each node's state, last error, counters and latency, in the order of the endpoints.
  /// Errors: client_closed, would_deadlock.
  result<std::vector<node_health>> health() const;

  /// A lock granted to another client (in another process: `redlock acquire` prints what this
  /// takes) as a lease of this one. One ownership check round finds whether a majority holds
  /// `token` on the key of every one of `resources`, and for how long: valid_until() counts
  /// from the start of that round with the smallest ttl left among them, less the drift. The
  /// lease is then extended, checked, released and lost like any other (with a lost_margin of
  /// a tenth of that ttl, and no auto-extension), and this client's close releases it unless
  /// it is detached again. `fence` is the number the grant carried, if any; the nodes do not
  /// check it.
  ///   auto held = locks->adopt({"orders:42"}, token_from_the_other_process);
  ///   if (held) (void)held->release();
  /// Errors: lock_lost (a majority does not hold the token: the lock expired or was released;
  /// keys of ours left on fewer nodes expire with their ttl), no_quorum (too few answered),
  /// invalid_option (no resources, an empty or repeated one, a token that is not 32 lowercase
  /// hex digits), client_closed, would_deadlock.
  result<lease> adopt(std::vector<std::string> resources, std::string token,
                      std::optional<std::uint64_t> fence = std::nullopt);
  /// Each node's key for `resource`: free, held (with its ttl left) or unknown, read with one
  /// PTTL per node, quarantined and duplicate nodes included (no vote is counted; the tally is
  /// empty). It never reads the token. Errors: invalid_option (an empty resource),
  /// client_closed, would_deadlock.
  result<std::vector<node_lock_state>> inspect(std::string_view resource) const;
  /// What this client counted about its acquires and leases since create() (metrics.hpp);
  /// prometheus_text() renders it with health() for a metrics endpoint. Errors: client_closed,
  /// would_deadlock.
  result<client_metrics> metrics() const;

 private:
  struct running;
  explicit client(std::unique_ptr<running> run) noexcept;
  std::unique_ptr<running> run_;
};

}  // namespace redlock
