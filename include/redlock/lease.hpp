// lease: one lock held on a majority of the nodes, until valid_until().
//
//   redlock::result<redlock::lease> r = locks.acquire("orders:42");  // default ttl: 10 s
//   if (r) {
//     do_work_until(r->valid_until());
//     if (!r->extend(10s)) stop_work();  // longer only while a majority still holds it
//   }                                    // ~lease releases it on every node, never blocking
//
// Contract:
//  1. Move-only. A moved-from or released lease is empty: operator bool is false and
//     extend/release return errc::empty_lease.
//  2. valid_until() is the monotonic deadline the engine computed (ttl - elapsed - drift
//     from the start of the round that granted or last extended it). Past it, another owner
//     may hold the lock: stop the protected work before then.
//  3. extend() and release() block the calling thread for one round (at most about one
//     node_timeout, unless a node has more than its 512 requests in flight: a release then
//     waits its turn for as long as our key may live, an extend for as long as the lease). Calling
//     them on the thread that runs the client's loop returns errc::would_deadlock; on an
//     async_client's loop use async_client::extend/release.
//  4. The destructor (and move-assignment over a held lease) sends the release and returns
//     at once; it never throws or blocks. If the client is already gone, nothing is sent:
//     the client released the lock when it closed.
//  5. One lease object must not be used by two threads at once (like any standard type);
//     different leases may. lost(), lost_reason() and wait_lost() are const: several threads
//     may call them at once, and while another thread extends or checks the lease, but not
//     while it is released, moved from or destroyed.
//  6. Lost: a lease is lost once the client declared it so (an extend refused, validity within
//     the safety margin with no extension confirmed, the client destroyed; see lost.hpp), or
//     once valid_until() - margin has passed, whichever is first. lost() never turns false
//     again; a lost lease should still be released (it then deletes what is left of our keys).
//  7. Fencing (acquire_options::fencing): fence() is a number strictly greater than that of
//     every fenced lease granted earlier for the same resource on these nodes with the same
//     key_prefix, as long as a majority of the nodes keeps its data (docs/safety.md says what
//     that assumes). Pass it with every write to the protected resource, which refuses a
//     write whose fence is smaller than the largest it has accepted:
//
//       redlock::acquire_options o;
//       o.fencing = true;
//       auto held = locks.acquire("orders:42", o);
//       if (held) storage.write(record, *held->fence());  // storage refuses older fences
//
//     Extending and releasing do not change it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redlock/export.hpp"
#include "redlock/lost.hpp"
#include "redlock/result.hpp"

namespace redlock {

namespace detail {
struct lease_state;
struct lease_access;
}  // namespace detail

class REDLOCK_API lease {
 public:
  lease() noexcept = default;
  lease(lease&& other) noexcept = default;
  lease& operator=(lease&& other) noexcept;
  ~lease();

  /// True while the lease holds a lock (not released, not moved from). It does not look at
  /// the clock: check remaining() for that.
  explicit operator bool() const noexcept { return state_ != nullptr; }

  /// The resource name given to acquire (the Redis key is the client's key_prefix + this);
  /// for a lock on several resources (acquire_all), the first of them.
  const std::string& resource() const noexcept;
  /// Every resource of the lock, in the order given: one for acquire, several for acquire_all.
  /// They are extended, checked, released and lost together. Empty for an empty lease.
  const std::vector<std::string>& resources() const noexcept;
  /// The random 128-bit token (32 hex digits) stored as the key's value on every node.
  const std::string& token() const noexcept;
  std::chrono::steady_clock::time_point valid_until() const noexcept;
  /// Time left until valid_until(), never negative; zero for an empty lease.
  std::chrono::steady_clock::duration remaining() const noexcept;
  /// The fencing token (contract 7), in [1, 2^64-1]; nullopt unless the acquire asked for
  /// acquire_options::fencing, and for an empty lease.
  std::optional<std::uint64_t> fence() const noexcept;

  /// True once the lease is lost (contract 6), and for an empty lease. Cheap: an atomic load
  /// and a clock read.
  bool lost() const noexcept;
  /// Why, once the client declared it lost; nullopt while it is not, or was lost only by the
  /// clock (past valid_until() - margin, which the client declares itself at that moment).
  std::optional<lease_lost> lost_reason() const;
  /// Blocks until lost() or until `timeout` passes; returns lost(). On the client's own loop
  /// thread it does not wait (it would stop the extensions it waits on): it returns lost().
  bool wait_lost(std::chrono::milliseconds timeout) const;

  /// Sets the key's ttl to `ttl` on every node that still holds our token. Never re-creates a
  /// key that is gone. Only a success moves valid_until() later (to at most start of the round
  /// + ttl - drift; less after an earlier extend timed out, see docs/design.md "Extending"):
  /// it needs a majority that extended before the current validity ran out. Every
  /// failure may shorten it, since nodes may have run the shorter PEXPIRE anyway:
  ///   lock_lost: valid_until() is now (stop the work);
  ///   no_quorum, validity_spent, misconfigured: valid_until() is at most start of the round
  ///     + ttl - drift, if any node may have run it (check remaining());
  ///   empty_lease: released (or released while the extend was in flight: never extended);
  ///   invalid_option, client_closed.
  /// One extend per lease runs at a time: a second call (another thread, or async) waits for
  /// the first round to finish on every node, then runs.
  result<void> extend(std::chrono::milliseconds ttl);

  /// Reads, in one round, whether a majority still holds our token and the smallest ttl left
  /// among them: how a holder finds out that someone deleted or overwrote its key, before an
  /// extension would. It never moves valid_until() later, and shortens it when the keys expire
  /// sooner than it said. Blocks for one round, like extend(). Errors: lock_lost (a majority
  /// no longer holds our token: the lease is lost, refused), no_quorum (too few answered; it
  /// says nothing either way), empty_lease, client_closed, would_deadlock.
  result<ownership> check_ownership() const;

  /// Forgets the lock without releasing it, and empties the lease: our keys stay on the nodes
  /// until their ttl runs out, or until a client that adopted the lock (client::adopt, with
  /// resources() and token()) releases it. For handing a lock to another process. Nothing
  /// extends it any more (auto-extension stops), it is not declared lost, and the client's
  /// close leaves it. It waits until no extend round of the lock is out (at most about one
  /// node_timeout), since a late answer may be a PEXPIRE not yet run. Errors:
  /// handover_unsafe (an extend timed out on a node and may still run there late: the lease
  /// keeps the lock), empty_lease, client_closed (the client released it when it closed),
  /// would_deadlock.
  result<void> detach();
  /// Deletes our key on every node (compare-and-delete, so never another owner's key), and
  /// empties the lease. Returns once a majority confirmed our key is gone (the rest of the
  /// nodes follow in the background); the tally says on how many nodes it was deleted by then.
  /// Releasing an expired lock is not an error. A node that cannot be told is owed the
  /// release and gets it when it answers again (node_health::owed_releases). Errors:
  /// no_quorum (the keys left expire after their ttl, or are deleted once owed releases
  /// arrive), empty_lease, client_closed, and would_deadlock: called on the client's own loop
  /// thread, where it cannot wait; the lease is then empty all the same and the release was
  /// sent in the background, as the destructor does.
  result<void> release();

 private:
  friend struct detail::lease_access;
  explicit lease(std::shared_ptr<detail::lease_state> state) noexcept : state_(std::move(state)) {}

  std::shared_ptr<detail::lease_state> state_;
};

}  // namespace redlock
