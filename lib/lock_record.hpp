// lock_record: what the library knows about one lock it tried or granted. Shared by the lease
// (any thread) and the engine and keeper (loop thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "redlock/lost.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

// What the engine knows about one lock it granted. Shared by the lease (any thread) and the
// engine (loop thread).
struct lock_record {
  lock_record(std::vector<std::string> resource_names, std::vector<std::string> lock_keys,
              std::string lock_token, std::chrono::milliseconds lock_ttl, std::size_t nodes)
      : resources(std::move(resource_names)),
        keys(std::move(lock_keys)),
        token(std::move(lock_token)),
        ttl(lock_ttl),
        may_hold(nodes, false),
        uncertain(nodes, false),
        late_ttl(nodes, std::chrono::milliseconds::max()) {}

  // One lock on one or more resources (acquire_all), taken, extended and released together:
  // keys[i] is the Redis key of resources[i]. Every key holds the same token.
  const std::vector<std::string> resources;
  const std::vector<std::string> keys;
  const std::string token;
  // The resources for messages: 'a', or 'a', 'b' and 'c'.
  std::string name() const;

  steady::time_point valid_until() const {
    return steady::time_point(steady::duration(valid_until_ticks_.load(std::memory_order_acquire)));
  }
  void set_valid_until(steady::time_point t) {
    valid_until_ticks_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

  // ---- the lost signal: declared once on the loop thread, read from any thread ----
  // How long before valid_until() the lease counts as lost; set before the lease exists.
  steady::duration lost_margin{0};
  bool lost(steady::time_point now) const {
    return lost_flag_.load(std::memory_order_acquire) || now >= valid_until() - lost_margin;
  }
  // Records why and wakes the waiters; false (and nothing changes) if it was already lost.
  bool declare_lost(lease_lost why);
  std::optional<lease_lost> lost_reason() const;
  // Until lost(now) or `deadline` (the steady clock's own: waiters sleep on it).
  bool wait_lost(const clock& time, steady::time_point deadline) const;

  // ---- loop thread only ----
  // The longest ttl a request of this lock that may have run gave the key (the acquire, or
  // an extend, successful or not): how long a key left behind may live.
  std::chrono::milliseconds ttl;
  std::vector<bool> may_hold;  // nodes that may store our token: they get the release
  // Nodes where the SET of this lock timed out or broke after it was written: it may still
  // run there, after a release sent on a newer connection, so the release goes there twice.
  // (A late PEXPIRE cannot re-create a key; late_ttl covers what it can do.)
  std::vector<bool> uncertain;
  // Per node: the shortest ttl of an extend that may still run there late (max(): none).
  std::vector<std::chrono::milliseconds> late_ttl;
  // The fencing token, set once before the lease exists (the lease reads it on any thread
  // after the grant was handed over); nullopt when the acquire did not ask for one.
  std::optional<std::uint64_t> fence;
  bool released = false;
  bool attempt_lost = false;  // the acquire round of this lock was lost: there is no lease
  // One extend round at a time, until every node answered; later calls wait their turn.
  struct queued_extend {
    std::chrono::milliseconds ttl;
    std::function<void(result<void>)> done;
  };
  bool extending = false;
  // Rarely more than one: a vector (an empty std::deque allocates 512 bytes per lock).
  std::vector<queued_extend> queued_extends;

 private:
  std::atomic<steady::rep> valid_until_ticks_{0};
  std::atomic<bool> lost_flag_{false};
  mutable std::mutex lost_mutex_;  // guards lost_reason_; only waiters sleep under it
  mutable std::condition_variable lost_cv_;
  std::optional<lease_lost> lost_reason_;
};

}  // namespace redlock::detail
