// Fakes for the unit tier: nodes that answer only when the test says so, a clock that moves
// only when the test moves it, and a scheduler that runs work only when asked.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "fence_seeder.hpp"
#include "node_link.hpp"
#include "resp.hpp"

namespace redlock::testing {

using detail::steady;

class fake_clock final : public detail::clock {
 public:
  steady::time_point now() const override { return now_; }
  void advance(std::chrono::nanoseconds d) {
    now_ += std::chrono::duration_cast<steady::duration>(d);
  }

 private:
  steady::time_point now_{std::chrono::hours(1000)};
};

class fake_scheduler final : public detail::scheduler {
 public:
  explicit fake_scheduler(fake_clock& clock) : clock_(clock) {}

  void defer(std::function<void()> fn) override { deferred_.push_back(std::move(fn)); }
  timer_id schedule(std::chrono::nanoseconds delay, std::function<void()> fn) override {
    timer_id id = next_++;
    timers_.emplace(id, std::make_pair(clock_.now() + delay, std::move(fn)));
    return id;
  }
  bool cancel(timer_id id) override { return timers_.erase(id) > 0; }

  // Runs deferred work until none is left.
  void run_deferred() {
    while (!deferred_.empty()) {
      auto fn = std::move(deferred_.front());
      deferred_.pop_front();
      fn();
    }
  }
  // Moves the clock forward and runs the timers that came due, in order.
  void advance(std::chrono::nanoseconds d) {
    clock_.advance(d);
    for (;;) {
      auto due = timers_.end();
      for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second.first <= clock_.now() &&
            (due == timers_.end() || it->second.first < due->second.first))
          due = it;
      }
      if (due == timers_.end()) break;
      auto fn = std::move(due->second.second);
      timers_.erase(due);
      fn();
    }
    run_deferred();
  }
  std::size_t pending_timers() const { return timers_.size(); }
  // The delay of the only pending timer.
  std::chrono::nanoseconds next_delay() const {
    return timers_.empty() ? std::chrono::nanoseconds(-1)
                           : timers_.begin()->second.first - clock_.now();
  }

 private:
  fake_clock& clock_;
  std::deque<std::function<void()>> deferred_;
  std::map<timer_id, std::pair<steady::time_point, std::function<void()>>> timers_;
  timer_id next_ = 1;
};

// One command a fake node received, with the means to answer it.
struct sent_command {
  std::shared_ptr<const detail::command> cmd;
  detail::answer_callback done;
};

class fake_node final : public detail::node_link {
 public:
  // A fake node starts connected to a server of its own (run_id "server-<name>").
  explicit fake_node(std::string name) : name_(std::move(name)) { connect("server-" + name_); }

  void send(std::shared_ptr<const detail::command> cmd, detail::answer_callback done,
            std::chrono::nanoseconds) override {
    inbox_.push_back({std::move(cmd), std::move(done)});
    ++sent_;
  }
  void on_change(std::function<void()> changed) override { changed_ = std::move(changed); }
  const std::string& name() const override { return name_; }
  const detail::link_status& status() const override { return status_; }

  // The oldest unanswered command.
  bool has_pending() const { return !inbox_.empty(); }
  const detail::command& pending() const { return *inbox_.front().cmd; }
  std::size_t sent() const { return sent_; }

  // A (re)connect to the server `run_id`; tells the engine.
  void connect(const std::string& run_id) {
    auto server = std::make_shared<detail::server_info>();
    server->run_id = run_id;
    connect(std::move(server));
  }
  void connect(std::shared_ptr<const detail::server_info> server) {
    status_.ready = true;
    status_.server = std::move(server);
    if (changed_) changed_();
  }
  void reconnect() { connect(status_.server ? status_.server->run_id : "server-" + name_); }
  // The node's server may not vote until `until` (quarantine.hpp).
  void quarantine(detail::steady::time_point until, std::string reason) {
    status_.quarantined_until = until;
    status_.quarantine_reason = std::move(reason);
  }
  // The connection failed (e.g. the handshake was refused); tells the engine.
  void disconnect(std::error_code code, std::string detail) {
    status_.ready = false;
    status_.server = nullptr;
    status_.last_error = code;
    status_.last_detail = std::move(detail);
    if (changed_) changed_();
  }

  void answer(detail::reply r) {
    detail::node_answer a;
    a.value = std::move(r);
    a.server = status_.server;
    pop()(std::move(a));
  }
  void answer_ok() { answer(status("OK")); }
  void answer_nil() { answer(detail::reply{}); }
  void answer_int(long long v) {
    detail::reply r;
    r.kind = detail::reply::type::integer;
    r.integer = v;
    answer(std::move(r));
  }
  // acquire.lua's refusal: KEYS[index] is there, `owner`'s token in it.
  void answer_refusal(long long index, std::string owner) {
    detail::reply r;
    r.kind = detail::reply::type::array;
    r.elements.resize(2);
    r.elements[0].kind = detail::reply::type::integer;
    r.elements[0].integer = -index;
    r.elements[1].kind = detail::reply::type::string;
    r.elements[1].text = std::move(owner);
    answer(std::move(r));
  }
  // A fenced acquire's grant (acquire_fenced.lua): the stored fence and the seeded mark, by
  // default the one naming this node's server.
  void answer_fenced_grant(std::string stored, std::optional<std::string> mark = {}) {
    detail::reply r;
    r.kind = detail::reply::type::array;
    r.elements.resize(2);
    r.elements[0].kind = detail::reply::type::string;
    r.elements[0].text = std::move(stored);
    r.elements[1].kind = detail::reply::type::string;
    r.elements[1].text = mark ? *mark : detail::fence_mark(*status_.server);
    answer(std::move(r));
  }
  void answer_error_reply(std::string text) {
    detail::reply r;
    r.kind = detail::reply::type::error;
    r.text = std::move(text);
    answer(std::move(r));
  }
  void fail(std::error_code code, std::string detail, bool maybe_ran) {
    detail::node_answer a;
    a.error = code;
    a.detail = std::move(detail);
    a.maybe_ran = maybe_ran;
    pop()(std::move(a));
  }

  static detail::reply status(std::string text) {
    detail::reply r;
    r.kind = detail::reply::type::status;
    r.text = std::move(text);
    return r;
  }

 private:
  detail::answer_callback pop() {
    auto done = std::move(inbox_.front().done);
    inbox_.pop_front();
    return done;
  }

  std::string name_;
  std::deque<sent_command> inbox_;
  std::size_t sent_ = 0;
  std::function<void()> changed_;
  detail::link_status status_;
};

}  // namespace redlock::testing
