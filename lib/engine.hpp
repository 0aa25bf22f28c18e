// The quorum engine: acquire (with retries inside the caller's wait budget), extend, release,
// the clean-up after a lost acquire, releases owed to nodes and the readiness wait, each a
// short caller of `round`. Runs on the loop thread only; nodes, clock and scheduler are
// interfaces, so unit tests drive it with fakes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clock.hpp"
#include "counters.hpp"
#include "fence_seeder.hpp"
#include "lock_record.hpp"
#include "node_link.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"
#include "release_ledger.hpp"
#include "round.hpp"

namespace redlock::detail {

// Waiting by notification (see release_notices.hpp): the engine tells the watch which keys
// its waiting acquires are for, and hears back what the nodes published about them.
class key_watch {
 public:
  virtual ~key_watch() = default;
  // An acquire with a wait budget starts (before its first attempt); true when the key's
  // releases are already being delivered to us.
  virtual bool watch(const std::string& key) = 0;
  // That acquire finished.
  virtual void unwatch(const std::string& key) = 0;
};

enum class key_notice {
  released,        // a node published that the key was deleted
  taken,           // a node published that a waiter of some client set the key
  delivering,      // a node confirmed our subscription: from now on its releases reach us
  not_delivering,  // no node delivers the key's releases any more (subscriptions lost)
};

struct engine_config {
  // From client_options, the one place their defaults live.
  double drift_factor;
  std::chrono::milliseconds retry_delay;
  std::chrono::milliseconds retry_jitter;
  std::string key_prefix;
  bool risky_nodes_vote = false;
  // client_options::replica_ack, its timeout resolved (round_env::ack_replicas).
  int ack_replicas = 0;
  std::chrono::milliseconds ack_timeout{0};
  // The engine's own.
  std::size_t quorum = 0;                // 0: a majority (round_env::quorum; test_knobs only)
  std::uint64_t seed = 0;                // of the retry-jitter PRNG
  std::size_t max_debt_per_node = 4096;  // releases kept for a node that could not take them
  // A release that may have been overtaken by a late request (owed releases, and releases to
  // nodes where a request of the lock timed out) is sent once more this much later.
  std::chrono::milliseconds owed_release_repeat{250};
  // A waiter woken by a release tries again after a random delay of up to this long per
  // client listening for the key (the release says how many), so that the first of them to
  // take the lock tells the others (about one round trip) before most of them tried.
  std::chrono::microseconds wake_spread{100};

  static engine_config from(const client_options& options);
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

  // One lock on `resources` (one or more, distinct), set all or nothing on each node. The
  // options must already be valid (see check_acquire). Callbacks run exactly once, never
  // inside the call. Returns the acquire's id, for cancel().
  std::uint64_t acquire(std::vector<std::string> resources, const acquire_options& options,
                        acquire_callback done);
  // Finishes the acquire with errc::cancelled now, unless it finished already.
  void cancel(std::uint64_t acquire_id);
  // Acquires with a wait budget are watched by `watch` (which must outlive the engine's
  // acquires), and woken by notice().
  void set_key_watch(key_watch* watch) { watch_ = watch; }
  // `listening`: for released, how many clients listen for the key's releases (>= 1).
  // `teller`: for taken, who took it (acquire.lua's "taken <teller>"; empty: unknown).
  void notice(const std::string& key, key_notice what, std::size_t listening = 1,
              std::string_view teller = {});
  // One extend per lock at a time: a call made while one is in flight waits for it.
  void extend(std::shared_ptr<lock_record> lock, std::chrono::milliseconds ttl, done_callback done);
  // Automatic extensions of many held locks due together (the keeper's batches): one script
  // call per node for up to max_batch locks (one such call in flight at a time; more wait), each
  // lock decided from its own results across the nodes exactly as its own extend round would be
  // (docs/design.md, "Batched extensions"). A lock with an extend in flight, or one that cannot be
  // extended now, takes extend()'s path instead (queued behind the one in flight). Each `done` runs
  // once.
  struct batch_member {
    std::shared_ptr<lock_record> lock;
    std::chrono::milliseconds ttl;
    done_callback done;
  };
  // Keys per script call: bounds how long one call occupies the server, which serves nobody
  // else meanwhile (4-15 µs a key measured here, so about 1-4 ms: well inside the default
  // 50 ms node_timeout even with five servers sharing two cores), and the reply (about 4
  // bytes a key).
  static constexpr std::size_t max_batch = 250;
  void extend_many(std::vector<batch_member> members);
  // `done` may be empty (the release of a destroyed lease).
  void release(std::shared_ptr<lock_record> lock, done_callback done);
  // The ownership check: a quorum read of our token and its remaining ttl (see lease.hpp).
  using check_callback = std::function<void(result<ownership>)>;
  void check(std::shared_ptr<lock_record> lock, check_callback done);
  // Succeeds once a majority of the nodes is connected and may vote; fails with
  // misconfigured as soon as refusals no retry fixes rule that out, or with no_quorum at
  // `deadline`. The tally: granted = connected, failed = not, with the last error.
  void wait_ready(steady::time_point deadline, done_callback done);

  // Stops retrying (acquires waiting for their next attempt finish with client_closed),
  // sends every owed release now, and ends readiness waits. Rounds already sent finish.
  void shutdown();
  // Operations (acquire, extend, release, clean-ups, readiness waits) not yet finished: they
  // keep an async client's loop alive.
  std::size_t in_flight() const { return in_flight_; }
  // Nothing at all in flight, owed releases included (a client closes only then).
  bool idle() const { return in_flight_ == 0 && background_ == 0; }
  // Called when either count starts or ends, with whether operations are in flight.
  void on_activity(std::function<void(bool busy)> listener) { activity_ = std::move(listener); }

  std::string key_of(std::string_view resource) const;
  // The hash holding every resource's fencing token (one field per resource).
  const std::string& fence_key() const;
  // The earlier connected endpoint with the same server as `node`, which then does not vote.
  std::optional<std::size_t> duplicate_of(std::size_t node) const;
  const release_ledger& owed(std::size_t node) const { return debts_[node]; }
  const acquire_counters& counters() const { return counters_; }

 private:
  // Owed releases are background work: a node that keeps failing them must not keep an
  // async client's loop alive for ever.
  enum class work { operation, background };
  struct acquire_op;
  struct ready_wait;

  void start_attempt(const std::shared_ptr<acquire_op>& op);
  // The op's next attempt, `delay` from now (a retry timer it is waiting on is replaced);
  // `woken`: called for by a notification.
  void schedule_attempt(const std::shared_ptr<acquire_op>& op, std::chrono::nanoseconds delay,
                        bool woken);
  std::chrono::nanoseconds retry_delay();  // retry_delay + jitter
  // Within wake_spread per client listening, doubled `doublings` times (split votes).
  std::chrono::nanoseconds wake_delay(std::size_t listening, int doublings);
  static constexpr int max_split_doublings = 20;
  std::chrono::nanoseconds within_budget(const acquire_op& op,
                                         std::chrono::nanoseconds delay) const;
  void unwatch(const std::shared_ptr<acquire_op>& op);
  void on_acquire_complete(const std::shared_ptr<acquire_op>& op, int attempt, const round& r);
  bool split_vote(const round& r) const;
  void on_acquire_decided(const std::shared_ptr<acquire_op>& op, const round& r,
                          const std::shared_ptr<lock_record>& lock);
  void abandon(const std::shared_ptr<lock_record>& lock);
  step acquire_step(const acquire_op& op, const lock_record& lock) const;
  static std::string held_by_others(const acquire_op& op, const round& r);
  void write_fence(const std::shared_ptr<acquire_op>& op, const round& first,
                   const std::shared_ptr<lock_record>& lock, steady::time_point valid_until);
  // A lost fenced attempt waits for the seeding of the nodes that answered UNSEEDED, once per
  // acquire; returns false when there is none to wait for. Adds the seedings that failed to
  // `message`.
  bool wait_for_seeding(const std::shared_ptr<acquire_op>& op, const round& r,
                        std::string& message);
  void seeding_finished();
  void complete(const std::shared_ptr<acquire_op>& op,
                result<std::shared_ptr<lock_record>> outcome);
  void finish_attempt(const std::shared_ptr<acquire_op>& op, const round& r,
                      const std::shared_ptr<lock_record>& lock, errc error, std::string message);
  struct extend_batch;
  // What decides one lock's extend: its own round, or its share of a batch.
  struct extend_votes {
    steady::time_point start;
    decision outcome;
    const vote_counter& votes;
    const std::vector<node_report>& reports;
    const std::vector<bool>& asked;
  };
  void start_extend(const std::shared_ptr<lock_record>& lock, std::chrono::milliseconds ttl,
                    done_callback done);
  void send_batch(std::vector<batch_member> batch);
  void send_next_batch();
  void start_batch(std::vector<batch_member> members);
  void batch_answered(extend_batch& b, const round& r, std::size_t node, const node_answer& answer);
  void batch_count_exclusions(extend_batch& b, const round& r);
  void on_extend_decided(const extend_votes& r, const std::shared_ptr<lock_record>& lock,
                         std::chrono::milliseconds ttl, const std::vector<bool>& ran,
                         const done_callback& done);
  void extend_finished(const std::shared_ptr<lock_record>& lock);
  // Sends `lock`'s release to the nodes in `ask` (empty: all) under `how`; owes it where it
  // fails and sends it again later where an earlier request may still run late.
  void send_release(const std::shared_ptr<lock_record>& lock, std::vector<bool> ask, rule how,
                    std::function<void(const round&)> decided);
  void send_again_later(std::function<void()> send, work kind);
  void owe_release(std::size_t node, const lock_record& lock);
  void owe(std::size_t node, owed_release debt);
  void pay_debts(std::size_t node);
  void send_owed(std::size_t node, owed_release debt, bool repeat);
  void node_changed(std::size_t node);
  void observe(std::size_t node, const node_answer& answer);
  exclusion excluded(std::size_t node) const;
  bool check_ready(const std::shared_ptr<ready_wait>& wait, bool at_deadline);

  void begin(work kind = work::operation);
  void end(work kind = work::operation);

  engine_config config_;
  const clock& clock_;
  scheduler& timers_;
  round_env env_;
  std::mt19937_64 rng_;
  // Unique to this engine: a waiter's teller is this and its acquire's id.
  std::string teller_prefix_;
  bool closing_ = false;
  std::size_t in_flight_ = 0;
  std::size_t background_ = 0;
  std::function<void(bool)> activity_;
  // Acquires waiting for their next attempt, by retry timer.
  std::unordered_map<scheduler::timer_id, std::shared_ptr<acquire_op>> waiting_;
  // Acquires whose caller has not had the outcome yet, by id (for cancel).
  std::unordered_map<std::uint64_t, std::shared_ptr<acquire_op>> live_;
  // Watched acquires (see key_watch), by key.
  key_watch* watch_ = nullptr;
  std::unordered_map<std::string, std::vector<std::shared_ptr<acquire_op>>> watched_;
  std::uint64_t next_acquire_id_ = 1;
  // Second sends of releases, by timer: sent at once on shutdown.
  std::unordered_map<scheduler::timer_id, std::pair<std::function<void()>, work>> resends_;
  std::vector<std::shared_ptr<ready_wait>> ready_waits_;
  // Extension batches: one call in flight at a time, the others wait here (send_batch).
  bool batch_in_flight_ = false;
  std::deque<std::vector<batch_member>> queued_batches_;
  std::vector<release_ledger> debts_;        // per node
  std::vector<steady::time_point> paid_at_;  // per node: the last time its debts were sent
  std::vector<bool> payment_due_;            // per node: a later payment is scheduled
  std::unique_ptr<fence_seeder> seeder_;
  // Fenced acquires whose next attempt waits for seedings to end (wait_for_seeding).
  std::vector<std::shared_ptr<acquire_op>> seed_waiters_;
  acquire_counters counters_;
};

}  // namespace redlock::detail
