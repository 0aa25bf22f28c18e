// Micro-benchmarks of the pure parts of the library: quorum arithmetic, validity, tokens, RESP
// encoding and decoding, endpoint parsing, and one whole acquire round of the engine on fake
// nodes; and, on a real libuv loop, the blocking client's hand-off (loop_leadership), the
// bridge's batching, and a whole blocking acquire on fake nodes. No sockets: these are the CPU
// and thread costs that sit above the network floor measured by redlock-bench.
//
//   redlock-micro-bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "endpoint.hpp"
#include "engine.hpp"
#include "fakes.hpp"
#include "loop.hpp"
#include "loop_leadership.hpp"
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
    vote_counter votes(rule::majority_granted, n, quorum_of(n));
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

// N fake nodes (the unit tier's), and the links the engine takes.
struct fake_nodes {
  explicit fake_nodes(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<redlock::testing::fake_node>(
          "redis://10.0.0." + std::to_string(i + 1) + ":6379"));
      links.push_back(nodes.back().get());
    }
  }
  std::vector<std::unique_ptr<redlock::testing::fake_node>> nodes;
  std::vector<node_link*> links;
};

// One acquire from start to granted: SET NX PX encoded and sent to N nodes, N "+OK" answers
// decoded into votes, the decision at quorum, the lock record handed to the callback.
void BM_EngineAcquireRound(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  // The unit tier's fakes: the clock stands still, nodes answer only when told.
  redlock::testing::fake_clock now;
  redlock::testing::fake_scheduler timers(now);
  fake_nodes fakes(n);
  auto& nodes = fakes.nodes;
  auto& links = fakes.links;
  engine_config config = engine_config::from(redlock::client_options{});
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
    eng.acquire({"orders:42"}, options, done);
    for (auto& node : nodes) {
      while (node->has_pending())
        node->answer_ok();
    }
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

// ---- the blocking client's hand-off, on a real loop -----------------------------------------

// A loop, its bridge and the leadership over it, run as the blocking client runs its own
// (`lead`: a caller runs the loop while no other thread does; the client's thread never takes
// it back within a benchmark), or as a caller's loop run by a thread of its own (every call
// handed to that thread and back: the blocking client before leader/follower).
class benched_loop {
 public:
  explicit benched_loop(bool lead) : clock_(), services_(&loop_init(), clock_), bridge_(&loop_) {
    bridge_.keep_loop_alive(true);
    leadership_ = std::make_unique<loop_leadership>(&loop_, bridge_, lead, std::chrono::hours(1));
    if (lead) {
      runner_ = std::thread([this] { leadership_->serve(); });
    } else {
      runner_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    }
  }
  ~benched_loop() {
    leadership_->stop();
    bridge_.post([this] {
      bridge_.close([] {});
      services_.close([] {});
    });
    runner_.join();
    uv_loop_close(&loop_);
  }

  // One blocking call: `start(finish)` runs on the loop; the call returns once finish() ran.
  template <class Start>
  void call(Start start) {
    loop_leadership::call c;
    leadership_->run([&] { start([&] { leadership_->finish(c); }); }, c);
  }

  loop_services& services() { return services_; }
  const redlock::detail::clock& time() const { return clock_; }

 private:
  uv_loop_t& loop_init() {
    uv_loop_init(&loop_);
    return loop_;
  }

  uv_loop_t loop_;
  steady_clock_source clock_;
  loop_services services_;
  bridge bridge_;
  std::unique_ptr<loop_leadership> leadership_;
  std::thread runner_;
};

// One blocking call whose outcome the loop knows in its next iteration (a deferred call): the
// cost of reaching the loop and coming back, by the caller leading or by a hand-off.
void BM_BlockingCall(benchmark::State& state) {
  benched_loop loop(state.range(0) == 1);
  for (auto _ : state) {
    loop.call([&](auto finish) { loop.services().defer(finish); });
  }
  state.SetLabel(state.range(0) == 1 ? "caller leads" : "handed to the loop's thread");
}
BENCHMARK(BM_BlockingCall)->Arg(1)->Arg(0)->UseRealTime();

// K tasks posted to the bridge, then run in one batch on the loop: the cost per task.
void BM_BridgeBatch(benchmark::State& state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = std::make_unique<bridge>(&loop);
  const auto k = state.range(0);
  std::int64_t ran = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < k; ++i)
      b->post([&ran] { ++ran; });
    b->run_queued();
  }
  b->close([] {});
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (ran != state.iterations() * k) state.SkipWithError("a posted task did not run");
  state.SetItemsProcessed(state.iterations() * k);  // tasks
}
BENCHMARK(BM_BridgeBatch)->Arg(1)->Arg(16)->Arg(256);

// A whole blocking acquire on N fake nodes that answer "+OK" in the loop's next iteration:
// the engine's round plus the way in and out of the loop, led by the caller or handed off.
void BM_BlockingAcquireOnFakeNodes(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  benched_loop loop(state.range(1) == 1);
  fake_nodes fakes(n);
  auto& nodes = fakes.nodes;
  auto& links = fakes.links;
  engine_config config = engine_config::from(redlock::client_options{});
  config.seed = 42;
  std::unique_ptr<engine> eng;
  loop.call([&](auto finish) {  // the engine lives on the loop
    eng = std::make_unique<engine>(config, links, loop.time(), loop.services());
    finish();
  });
  redlock::acquire_options options;  // ttl 10 s, one attempt
  benchmark::IterationCount granted = 0;
  for (auto _ : state) {
    loop.call([&](auto finish) {
      eng->acquire({"orders:42"}, options,
                   [&, finish](redlock::result<std::shared_ptr<lock_record>> r) {
                     if (r) ++granted;
                     finish();
                   });
      loop.services().defer([&] {
        for (auto& node : nodes) {
          while (node->has_pending())
            node->answer_ok();
        }
      });
    });
  }
  loop.call([&](auto finish) {
    eng.reset();
    finish();
  });
  if (granted != state.iterations()) state.SkipWithError("an acquire was not granted");
  state.SetLabel(state.range(1) == 1 ? "caller leads" : "handed to the loop's thread");
}
BENCHMARK(BM_BlockingAcquireOnFakeNodes)->ArgsProduct({{1, 5}, {1, 0}})->UseRealTime();

}  // namespace
