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
    pending_request& r = unwritten_[i];
    r.queued_until = saturating_add(now, steady::duration(r.queue_budget));
    queue_ends_.insert(r.queued_until);
  }
  without_queue_time_ = 0;
}

void pipeline::write_into(std::string& out, steady::time_point now,
                          std::chrono::nanoseconds timeout) {
  while (!unwritten_.empty() && in_flight_.size() < window_) {
    pending_request r = std::move(unwritten_.front());
    unwritten_.pop_front();
    if (auto it = queue_ends_.find(r.queued_until); it != queue_ends_.end()) queue_ends_.erase(it);
    const std::string& wire = r.cmd ? (r.eval_sent ? eval_wire(*r.cmd) : r.cmd->wire) : r.wire;
    out += wire;
    r.sent_at = now;
    r.deadline = now + std::chrono::duration_cast<steady::duration>(timeout);
    in_flight_.push_back(std::move(r));
  }
}

std::optional<pending_request> pipeline::take_oldest() {
  if (in_flight_.empty()) return std::nullopt;
  pending_request r = std::move(in_flight_.front());
  in_flight_.pop_front();
  return r;
}

std::deque<pending_request> pipeline::take_in_flight() {
  auto out = std::move(in_flight_);
  in_flight_.clear();
  return out;
}

std::deque<pending_request> pipeline::take_unwritten() {
  auto out = std::move(unwritten_);
  unwritten_.clear();
  queue_ends_.clear();
  without_queue_time_ = 0;
  return out;
}

std::deque<pending_request> pipeline::take_expired_unwritten(steady::time_point now) {
  std::deque<pending_request> out;
  if (queue_ends_.empty() || *queue_ends_.begin() > now) return out;
  queue_ends_.erase(queue_ends_.begin(), queue_ends_.upper_bound(now));
  auto keep =
      std::stable_partition(unwritten_.begin(), unwritten_.end(),
                            [now](const pending_request& r) { return r.queued_until > now; });
  std::move(keep, unwritten_.end(), std::back_inserter(out));
  unwritten_.erase(keep, unwritten_.end());
  return out;
}

steady::time_point pipeline::next_deadline() const {
  steady::time_point next = steady::time_point::max();
  if (!in_flight_.empty()) next = in_flight_.front().deadline;
  if (!queue_ends_.empty()) next = std::min(next, *queue_ends_.begin());
  return next;
}

}  // namespace redlock::detail
