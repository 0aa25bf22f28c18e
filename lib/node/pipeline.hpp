// pipeline: the requests of one node's connection, in order. Requests wait unwritten until
// the node's next batched write (one per loop tick), and only while fewer than `window` are
// in flight; a request's reply deadline counts from when it was written, never from when it
// was queued, so a burst cannot expire requests that never left. Replies come back in the
// order the requests were written: each reply belongs to the oldest request in flight, and a
// reply when none is in flight is one nobody asked for.
//
// Pure bookkeeping (no I/O, no clock of its own), loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clock.hpp"
#include "node/subscriptions.hpp"
#include "node_link.hpp"
#include "resp.hpp"
#include "ring_queue.hpp"

namespace redlock::detail {

// What a connection's handshake sends, user requests, and what a subscriber connection sends
// (its PING is the keep-alive).
enum class request_kind { user, auth, select, ping, info, script_load, subscribe, unsubscribe };

struct pending_request {
  std::shared_ptr<const command> cmd;  // user requests
  std::string wire;                    // handshake steps: their own bytes
  answer_callback done;                // user requests
  request_kind kind = request_kind::user;
  subscription topic;      // subscribe, unsubscribe
  bool eval_sent = false;  // the EVAL fallback after NOSCRIPT has been written
  steady::time_point queued_until = steady::time_point::max();  // unwritten: fails after this
  std::chrono::nanoseconds queue_budget{0};  // how long it may wait for room, once it can go
  steady::time_point sent_at;                // written: when
  steady::time_point deadline;               // written: its reply is due by then
};

class pipeline {
 public:
  explicit pipeline(std::size_t window) : window_(window) {}

  // `queued_until`: when it fails unwritten; max(): not yet, its queue time (its
  // queue_budget) starts at the next start_queue_time().
  void enqueue(pending_request r, steady::time_point queued_until);
  // Starts the queue time of the requests enqueued without one.
  void start_queue_time(steady::time_point now);
  // Writes what the window allows: appends each request's bytes to `out` and stamps it. The
  // requests left unwritten then start their queue time (`now`): this was their first chance.
  void write_into(std::string& out, steady::time_point now, std::chrono::nanoseconds timeout);
  // A request written out of turn (a handshake step, the EVAL fallback): in flight at once.
  void written(pending_request r) { in_flight_.push_back(std::move(r)); }

  // The oldest request in flight, for the reply that just came; empty when none is.
  std::optional<pending_request> take_oldest();
  // Every request in flight (the connection is gone: each may have run).
  std::vector<pending_request> take_in_flight();
  // Every unwritten request.
  std::vector<pending_request> take_unwritten();
  // Unwritten requests whose queue time is over.
  std::vector<pending_request> take_expired_unwritten(steady::time_point now);

  // The earliest reply deadline or queue end; time_point::max() when none.
  steady::time_point next_deadline() const;
  bool overdue(steady::time_point now) const {
    return !in_flight_.empty() && in_flight_.front().deadline <= now;
  }
  bool has_unwritten() const { return !unwritten_.empty(); }
  bool window_full() const { return in_flight_.size() >= window_; }
  std::size_t in_flight() const { return in_flight_.size(); }
  std::size_t unwritten() const { return unwritten_.size(); }

 private:
  std::size_t window_;
  ring_queue<pending_request> unwritten_;
  std::multiset<steady::time_point> queue_ends_;  // the unwritten requests' queued_until
  std::size_t without_queue_time_ = 0;            // the last ones of unwritten_
  ring_queue<pending_request> in_flight_;
};

}  // namespace redlock::detail
