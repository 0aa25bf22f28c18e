// Micro-benchmarks of the pure parts of the library: quorum arithmetic, validity, tokens, RESP
// encoding and decoding, endpoint parsing, and one whole acquire round of the engine on fake
// nodes. No sockets: these are the CPU costs that sit above the network floor measured by
// redlock-bench.
//
//   redlock-micro-bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "endpoint.hpp"
#include "engine.hpp"
#include "node_link.hpp"
#include "quorum.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"
#include "resp.hpp"
#include "token.hpp"

namespace {

using namespace redlock::detail;
using redlock::vote;

// ---- quorum -------------------------------------------------------------------------------

// One round's votes as the engine records them: one vote per answer, state() after each.
void BM_Quorum(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<vote> answers(n, vote::granted);
  benchmark::DoNotOptimize(answers.data());
  for (auto _ : state) {
    vote_counter votes(n);
    for (vote v : answers) {
      votes.record(v);
      decision d = votes.state();
      benchmark::DoNotOptimize(d);
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // votes
}
BENCHMARK(BM_Quorum)->Arg(1)->Arg(3)->Arg(5)->Arg(7);

// ---- validity -----------------------------------------------------------------------------

void BM_Validity(benchmark::State& state) {
  steady::time_point start = steady::now();
  std::chrono::milliseconds ttl(10'000);
  double drift_factor = 0.01;
  for (auto _ : state) {
    benchmark::DoNotOptimize(start);
    benchmark::DoNotOptimize(ttl);
    benchmark::DoNotOptimize(drift_factor);
    std::chrono::nanoseconds drift = drift_allowance(ttl, drift_factor);
    steady::time_point valid_until = validity_deadline(start, ttl, drift_factor);
    benchmark::DoNotOptimize(drift);
    benchmark::DoNotOptimize(valid_until);
  }
}
BENCHMARK(BM_Validity);

// ---- tokens -------------------------------------------------------------------------------

void BM_Token(benchmark::State& state) {
  for (auto _ : state) {
    std::string token = random_token();
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_Token);

// ---- RESP ---------------------------------------------------------------------------------

void BM_EncodeSet(benchmark::State& state) {
  const std::string key = "redlock:orders:42";
  const std::string token = random_token();
  for (auto _ : state) {
    std::string wire = encode_command({"SET", key, token, "NX", "PX", "10000"});
    benchmark::DoNotOptimize(wire);
  }
  state.SetBytesProcessed(
      state.iterations() *
      static_cast<std::int64_t>(encode_command({"SET", key, token, "NX", "PX", "10000"}).size()));
}
BENCHMARK(BM_EncodeSet);

// Parses RESP bytes with hiredis's own reader, as the connection would; null on failure.
redisReply* reply_from(std::string_view wire) {
  redisReader* reader = redisReaderCreate();
  void* out = nullptr;
  if (reader == nullptr) return nullptr;
  if (redisReaderFeed(reader, wire.data(), wire.size()) != REDIS_OK ||
      redisReaderGetReply(reader, &out) != REDIS_OK) {
    if (out != nullptr) freeReplyObject(out);
    out = nullptr;
  }
  redisReaderFree(reader);
  return static_cast<redisReply*>(out);
}

void BM_DecodeReply(benchmark::State& state, const char* wire) {
  redisReply* parsed = reply_from(wire);
  if (parsed == nullptr) {
    state.SkipWithError("hiredis could not parse the reply");
    return;
  }
  for (auto _ : state) {
    reply decoded = decode_reply(parsed);
    benchmark::DoNotOptimize(decoded);
  }
  freeReplyObject(parsed);
}
BENCHMARK_CAPTURE(BM_DecodeReply, status, "+OK\r\n");
BENCHMARK_CAPTURE(BM_DecodeReply, integer, ":1\r\n");
BENCHMARK_CAPTURE(BM_DecodeReply, nil, "$-1\r\n");
BENCHMARK_CAPTURE(BM_DecodeReply, bulk_token, "$32\r\n0123456789abcdef0123456789abcdef\r\n");

// ---- endpoints ----------------------------------------------------------------------------

void BM_ParseEndpoint(benchmark::State& state, const char* url) {
  if (!parse_endpoint(url)) {
    state.SkipWithError("the URL does not parse");
    return;
  }
  for (auto _ : state) {
    auto parsed = parse_endpoint(url);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK_CAPTURE(BM_ParseEndpoint, tcp_auth_db, "redis://app:secret@10.0.0.1:6379/2");
BENCHMARK_CAPTURE(BM_ParseEndpoint, ipv6, "redis://[2001:db8::17]:7000");
BENCHMARK_CAPTURE(BM_ParseEndpoint, unix_socket, "unix:///run/redis/redis.sock?db=1");

// ---- the engine's round on fake nodes -----------------------------------------------------

// A clock that stands still: every round starts and is decided at the same instant.
class still_clock final : public clock {
 public:
  steady::time_point now() const override { return now_; }

 private:
  steady::time_point now_{std::chrono::hours(1000)};
};

// Keeps deferred and delayed work; an acquire that every node grants uses neither.
class queue_scheduler final : public scheduler {
 public:
  void defer(std::function<void()> fn) override { deferred_.push_back(std::move(fn)); }
  timer_id schedule(std::chrono::nanoseconds, std::function<void()> fn) override {
    timer_id id = next_++;
    timers_.emplace(id, std::move(fn));
    return id;
  }
  bool cancel(timer_id id) override { return timers_.erase(id) > 0; }

  void run_deferred() {
    while (!deferred_.empty()) {
      auto fn = std::move(deferred_.front());
      deferred_.pop_front();
      fn();
    }
  }
  std::size_t pending_timers() const { return timers_.size(); }

 private:
  std::deque<std::function<void()>> deferred_;
  std::map<timer_id, std::function<void()>> timers_;
  timer_id next_ = 1;
};

// A node that queues every command (never calls back inside send) and answers "+OK" to all
// of them when told.
class ok_node final : public node_link {
 public:
  explicit ok_node(std::string name) : name_(std::move(name)) {}

  void send(std::shared_ptr<const command> cmd, answer_callback done) override {
    inbox_.emplace_back(std::move(cmd), std::move(done));
  }
  void on_ready(std::function<void()> ready) override { ready_ = std::move(ready); }
  const std::string& name() const override { return name_; }

  void answer_all_ok() {
    answering_.swap(inbox_);  // an answer may send again: that lands in inbox_
    for (auto& q : answering_) {
      node_answer a;
      a.value.kind = reply::type::status;
      a.value.text = "OK";
      q.second(std::move(a));
    }
    answering_.clear();
  }

 private:
  using queued = std::pair<std::shared_ptr<const command>, answer_callback>;
  std::string name_;
  std::vector<queued> inbox_;
  std::vector<queued> answering_;
  std::function<void()> ready_;
};

// One acquire from start to granted: SET NX PX encoded and sent to N nodes, N "+OK" answers
// decoded into votes, the decision at quorum, the lock record handed to the callback.
void BM_EngineAcquireRound(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  still_clock now;
  queue_scheduler timers;
  std::vector<std::unique_ptr<ok_node>> nodes;
  std::vector<node_link*> links;
  for (std::size_t i = 0; i < n; ++i) {
    nodes.push_back(std::make_unique<ok_node>("redis://10.0.0." + std::to_string(i + 1) + ":6379"));
    links.push_back(nodes.back().get());
  }
  engine_config config;
  config.seed = 42;
  engine eng(config, links, now, timers);
  redlock::acquire_options options;  // ttl 10 s, one attempt

  bool granted = false;
  std::size_t calls = 0;
  auto done = [&](redlock::result<std::shared_ptr<lock_record>> r) {
    ++calls;
    granted = static_cast<bool>(r);
    benchmark::DoNotOptimize(r);
  };
  for (auto _ : state) {
    granted = false;
    calls = 0;
    eng.acquire("orders:42", options, done);
    for (auto& node : nodes)
      node->answer_all_ok();
    timers.run_deferred();
    if (calls != 1 || !granted) {
      state.SkipWithError("the acquire round was not granted exactly once");
      break;
    }
  }
  if (eng.in_flight() != 0 || timers.pending_timers() != 0)
    state.SkipWithError("the engine still has work after the rounds");
  state.SetItemsProcessed(state.iterations());  // rounds
}
BENCHMARK(BM_EngineAcquireRound)->Arg(1)->Arg(3)->Arg(5)->Arg(7);

}  // namespace
