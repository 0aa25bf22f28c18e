// The quorum engine: one round sends a command to every node at once, counts the votes and
// decides as soon as the outcome is known. On top of rounds: acquire (with retries inside the
// caller's wait budget), extend and release. Runs on the loop thread only; nodes, clock and
// scheduler are interfaces, so unit tests drive it with fakes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "clock.hpp"
#include "node_link.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"

namespace redlock::detail {

struct engine_config {
  double drift_factor = 0.01;
  std::chrono::milliseconds retry_delay{50};
  std::chrono::milliseconds retry_jitter{50};
  std::string key_prefix = "redlock:";
  std::uint64_t seed = 0;                // of the retry-jitter PRNG
  std::size_t max_debt_per_node = 4096;  // releases kept for a node that is down
  // Owed releases are sent on reconnect and once more this much later.
  std::chrono::milliseconds owed_release_repeat{250};
};

// What the engine knows about one lock it granted. Shared by the lease (any thread) and the
// engine (loop thread).
struct lock_record {
  lock_record(std::string resource_name, std::string lock_key, std::string lock_token,
              std::chrono::milliseconds lock_ttl, std::size_t nodes)
      : resource(std::move(resource_name)),
        key(std::move(lock_key)),
        token(std::move(lock_token)),
        ttl(lock_ttl),
        may_hold(nodes, false) {}

  const std::string resource;
  const std::string key;
  const std::string token;

  steady::time_point valid_until() const {
    return steady::time_point(steady::duration(valid_until_ticks_.load(std::memory_order_acquire)));
  }
  void set_valid_until(steady::time_point t) {
    valid_until_ticks_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

  // Loop thread only.
  std::chrono::milliseconds ttl;
  std::vector<bool> may_hold;  // nodes that may store our token: they get the release
  bool released = false;

 private:
  std::atomic<steady::rep> valid_until_ticks_{0};
};

class engine {
 public:
  using acquire_callback = std::function<void(result<std::shared_ptr<lock_record>>)>;
  using done_callback = std::function<void(result<void>)>;

  // `nodes`, `clock` and `timers` must outlive the engine, and every answer callback the
  // engine gave to a node must have run before the engine is destroyed.
  engine(engine_config config, std::vector<node_link*> nodes, const clock& clock,
         scheduler& timers);
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // The options must already be valid (see validate_acquire). Callbacks run exactly once,
  // never inside the call.
  void acquire(std::string resource, const acquire_options& options, acquire_callback done);
  void extend(std::shared_ptr<lock_record> lock, std::chrono::milliseconds ttl, done_callback done);
  // `done` may be empty (the release of a destroyed lease).
  void release(std::shared_ptr<lock_record> lock, done_callback done);

  // Stops retrying: acquires waiting for their next attempt finish with client_closed.
  // Rounds already sent finish normally.
  void shutdown();
  // Operations (acquire, extend, release, cleanups) not yet finished.
  std::size_t in_flight() const { return in_flight_; }
  // Called with true when work starts while idle, false when the last operation ends.
  void on_activity(std::function<void(bool busy)> listener) { activity_ = std::move(listener); }

  std::string key_of(std::string_view resource) const;

 private:
  struct round;
  struct acquire_op;

  void start_attempt(const std::shared_ptr<acquire_op>& op);
  void on_acquire_vote(const std::shared_ptr<acquire_op>& op, const std::shared_ptr<round>& r,
                       const std::shared_ptr<lock_record>& lock, std::size_t node,
                       node_answer answer);
  void finish_attempt(const std::shared_ptr<acquire_op>& op, const std::shared_ptr<round>& r,
                      const std::shared_ptr<lock_record>& lock, std::error_code error,
                      std::string message);
  void on_extend_vote(const std::shared_ptr<round>& r, const std::shared_ptr<lock_record>& lock,
                      std::chrono::milliseconds ttl, steady::time_point old_valid_until,
                      std::size_t node, node_answer answer, const done_callback& done);
  // Sends the release to every node that may hold `lock`'s token, without a caller.
  void clean_up(const std::shared_ptr<lock_record>& lock);
  void owe_release(std::size_t node, const lock_record& lock);
  void pay_debts(std::size_t node);
  void send_owed(std::size_t node, const std::deque<std::pair<std::string, std::string>>& debts);

  std::shared_ptr<const command> release_command(const lock_record& lock) const;
  std::shared_ptr<round> new_round() const;
  void begin();
  void end();

  engine_config config_;
  std::vector<node_link*> nodes_;
  const clock& clock_;
  scheduler& timers_;
  std::mt19937_64 rng_;
  bool closing_ = false;
  std::size_t in_flight_ = 0;
  std::function<void(bool)> activity_;
  // Acquires waiting for their next attempt, by retry timer.
  std::unordered_map<scheduler::timer_id, std::shared_ptr<acquire_op>> waiting_;
  // Per node: (key, token) whose release could not be delivered; sent on its next connect.
  std::vector<std::deque<std::pair<std::string, std::string>>> debts_;
};

}  // namespace redlock::detail
