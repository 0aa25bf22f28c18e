#include "node/pipeline.hpp"

#include <algorithm>

namespace redlock::detail {

void pipeline::enqueue(pending_request r, steady::time_point queued_until) {
  if (queued_until == steady::time_point::max()) {
    ++without_queue_time_;
  } else {
    queue_ends_.insert(queued_until);
  }
  r.queued_until = queued_until;
  unwritten_.push_back(std::move(r));
}

void pipeline::start_queue_time(steady::time_point now) {
  for (std::size_t i = unwritten_.size() - without_queue_time_; i < unwritten_.size(); ++i) {
    pending_request& r = unwritten_.at(i);
    r.queued_until = saturating_add(now, steady::duration(r.queue_budget));
    queue_ends_.insert(r.queued_until);
  }
  without_queue_time_ = 0;
}

void pipeline::write_into(std::string& out, steady::time_point now,
                          std::chrono::nanoseconds timeout) {
  while (!unwritten_.empty() && in_flight_.size() < window_) {
    pending_request r = unwritten_.pop_front();
    if (r.queued_until != steady::time_point::max()) {
      if (auto it = queue_ends_.find(r.queued_until); it != queue_ends_.end())
        queue_ends_.erase(it);
    }
    if (r.cmd && r.eval_sent) {
      out += eval_wire(*r.cmd);
    } else {
      out += r.cmd ? r.cmd->wire : r.wire;  // both lvalues: no copy (a ternary with the
    }                                       // eval_wire() temporary copied every command)
    r.sent_at = now;
    r.deadline = now + std::chrono::duration_cast<steady::duration>(timeout);
    in_flight_.push_back(std::move(r));
  }
  // Those without a queue time are the last ones: the ones written leave fewer of them.
  without_queue_time_ = std::min(without_queue_time_, unwritten_.size());
  start_queue_time(now);
}

std::optional<pending_request> pipeline::take_oldest() {
  if (in_flight_.empty()) return std::nullopt;
  return in_flight_.pop_front();
}

std::vector<pending_request> pipeline::take_in_flight() {
  return in_flight_.take_all();
}

std::vector<pending_request> pipeline::take_unwritten() {
  queue_ends_.clear();
  without_queue_time_ = 0;
  return unwritten_.take_all();
}

std::vector<pending_request> pipeline::take_expired_unwritten(steady::time_point now) {
  std::vector<pending_request> out;
  if (queue_ends_.empty() || *queue_ends_.begin() > now) return out;
  queue_ends_.erase(queue_ends_.begin(), queue_ends_.upper_bound(now));
  // One turn round the queue keeps the order of those that stay.
  for (std::size_t left = unwritten_.size(); left > 0; --left) {
    pending_request r = unwritten_.pop_front();
    if (r.queued_until > now) {
      unwritten_.push_back(std::move(r));
    } else {
      out.push_back(std::move(r));
    }
  }
  return out;
}

steady::time_point pipeline::next_deadline() const {
  steady::time_point next = steady::time_point::max();
  if (!in_flight_.empty()) next = in_flight_.front().deadline;
  if (!queue_ends_.empty()) next = std::min(next, *queue_ends_.begin());
  return next;
}

}  // namespace redlock::detail
