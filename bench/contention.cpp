// The contention scenario: hand-off latency, fairness and commands per grant of W clients on
// one resource.
#include "contention.hpp"

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "redlock/async_client.hpp"
#include "redlock/redlock.hpp"

namespace redlock::bench {

row measure_contention(const std::vector<std::string>& urls, int clients, double seconds) {
  struct contender {
    std::optional<redlock::async_client> client;
    uv_timer_t hold;  // the 1 ms the lock is held
    std::optional<redlock::lease> held;
    std::size_t wins = 0;
  };
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<double> handoffs;
  std::size_t errors = 0;
  std::optional<clock_type::time_point> released_at;
  clock_type::time_point until;
  std::vector<std::unique_ptr<contender>> all;
  std::function<void(contender&)> take = [&](contender& c) {
    if (clock_type::now() >= until) return;
    redlock::acquire_options wait;
    wait.ttl = milliseconds(5000);
    wait.wait = milliseconds(10000);
    auto started = c.client->acquire("contended", wait, [&](redlock::result<redlock::lease> r) {
      if (!r) {
        ++errors;
        take(c);
        return;
      }
      if (released_at) handoffs.push_back(micros(clock_type::now() - *released_at));
      ++c.wins;
      c.held.emplace(std::move(*r));
      uv_timer_start(
          &c.hold,
          [](uv_timer_t* t) {
            auto* self = static_cast<std::function<void()>*>(t->data);
            (*self)();
          },
          1, 0);
    });
    if (!started) throw std::runtime_error(started.message());
  };
  std::vector<std::function<void()>> on_hold_end(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    auto c = std::make_unique<contender>();
    redlock::client_options o = client_options_for(urls);
    auto made = redlock::async_client::create(&loop, o);
    if (!made) throw std::runtime_error(made.message());
    c->client.emplace(std::move(*made));
    uv_timer_init(&loop, &c->hold);
    contender* raw = c.get();
    on_hold_end[static_cast<std::size_t>(i)] = [&, raw] {
      (void)raw->client->release(std::move(*raw->held), [&, raw](redlock::result<void> done) {
        if (!done) ++errors;
        released_at = clock_type::now();
        take(*raw);
      });
      raw->held.reset();
    };
    c->hold.data = &on_hold_end[static_cast<std::size_t>(i)];
    all.push_back(std::move(c));
  }
  // Every client connected to every node (or 10 s) before the clock starts.
  auto requests_sent = [&](bool* all_connected) {
    std::uint64_t sent = 0;
    *all_connected = true;
    for (auto& c : all) {
      if (auto h = c->client->health()) {
        for (const redlock::node_health& n : *h) {
          sent += n.requests;
          *all_connected = *all_connected && n.state == redlock::node_state::connected;
        }
      }
    }
    return sent;
  };
  uv_timer_t tick;
  uv_timer_init(&loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 1, 1);
  bool connected = false;
  std::uint64_t handshakes = requests_sent(&connected);
  for (auto give_up = clock_type::now() + std::chrono::seconds(10);
       !connected && clock_type::now() < give_up;) {
    uv_run(&loop, UV_RUN_ONCE);
    handshakes = requests_sent(&connected);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  until = clock_type::now() +
          std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  for (auto& c : all)
    take(*c);
  uv_run(&loop, UV_RUN_DEFAULT);
  std::vector<std::size_t> wins;
  std::uint64_t requests = requests_sent(&connected) - handshakes;
  for (auto& c : all) {
    wins.push_back(c->wins);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->hold), nullptr);
    c->client.reset();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  row r;
  r.scenario = "contention";
  r.client = "async_client";
  r.nodes = urls.size();
  r.concurrency = clients;
  for (std::size_t w : wins)
    r.ops += w;
  r.ops_per_s = static_cast<double>(r.ops) / seconds;
  r.p50_us = percentile(handoffs, 0.5);
  r.p99_us = percentile(handoffs, 0.99);
  r.errors = errors;
  double sum = 0;
  double squares = 0;
  for (std::size_t w : wins) {
    sum += static_cast<double>(w);
    squares += static_cast<double>(w) * static_cast<double>(w);
  }
  r.fairness = squares > 0 ? sum * sum / (static_cast<double>(clients) * squares) : 0;
  r.commands_per_grant = r.ops > 0 ? static_cast<double>(requests) / static_cast<double>(r.ops) : 0;
  return r;
}

}  // namespace redlock::bench
