// The timeline scenario: one client locking without pause through a pause and a restart.
#include "timeline.hpp"

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "redis_fleet.hpp"
#include "redlock/async_client.hpp"

namespace redlock::bench {

std::vector<timeline_point> measure_timeline(row& restart_row) {
  redlock::testing::redis_fleet fleet(5);
  uv_loop_t loop;
  uv_loop_init(&loop);
  const auto window = std::chrono::milliseconds(50);
  const auto length = std::chrono::milliseconds(6000);
  struct bucket {
    std::vector<double> latencies;
    std::size_t errors = 0;
  };
  std::vector<bucket> buckets(static_cast<std::size_t>(length / window));
  auto begin = clock_type::now();
  auto bucket_of = [&](clock_type::time_point t) -> bucket& {
    auto i = static_cast<std::size_t>((t - begin) / window);
    return buckets[std::min(i, buckets.size() - 1)];
  };
  std::vector<double> gap;  // latencies while node 1 is down and rejoining (4 s to 5 s)
  std::size_t gap_errors = 0;
  auto in_gap = [&](clock_type::time_point t) {
    return t - begin >= std::chrono::milliseconds(4000) &&
           t - begin < std::chrono::milliseconds(5000);
  };
  // The client runs on its own thread; the faults run on this one (the fleet's servers die
  // with the thread that started them, and a restart blocks until the server is up).
  std::thread runner([&] {
    auto made = redlock::async_client::create(&loop, client_options_for(fleet.urls()));
    if (!made) throw std::runtime_error(made.message());
    std::optional<redlock::async_client> locks(std::move(*made));
    std::size_t next_key = 0;
    std::function<void()> next = [&] {
      if (clock_type::now() - begin >= length) return;
      auto start = clock_type::now();
      auto started = locks->acquire("timeline:" + std::to_string(next_key++), {},
                                    [&, start](redlock::result<redlock::lease> r) {
                                      auto now = clock_type::now();
                                      if (!r) {
                                        ++bucket_of(start).errors;
                                        if (in_gap(start)) ++gap_errors;
                                        next();
                                        return;
                                      }
                                      bucket_of(start).latencies.push_back(micros(now - start));
                                      if (in_gap(start)) gap.push_back(micros(now - start));
                                      (void)locks->release(std::move(*r),
                                                           [&](redlock::result<void>) { next(); });
                                    });
      if (!started) throw std::runtime_error(started.message());
    };
    next();
    uv_run(&loop, UV_RUN_DEFAULT);  // until the last operation after `length`
    locks.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
  });
  auto at = [&](int ms) { std::this_thread::sleep_until(begin + std::chrono::milliseconds(ms)); };
  at(1500);
  fleet.pause(0);
  at(3000);
  fleet.resume(0);
  at(4000);
  fleet.kill(1);
  at(4500);
  fleet.restart(1);
  runner.join();
  uv_loop_close(&loop);

  std::vector<timeline_point> out;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    out.push_back({static_cast<double>(i * static_cast<std::size_t>(window.count())),
                   percentile(buckets[i].latencies, 0.5), percentile(buckets[i].latencies, 0.99),
                   buckets[i].latencies.size(), buckets[i].errors});
  }
  restart_row.scenario = "failover";
  restart_row.client = "async_client";
  restart_row.nodes = 5;
  restart_row.fault = "restart";
  restart_row.ops = gap.size();
  restart_row.ops_per_s = static_cast<double>(gap.size());  // the gap lasts one second
  restart_row.p50_us = percentile(gap, 0.5);
  restart_row.p99_us = percentile(gap, 0.99);
  restart_row.errors = gap_errors;
  return out;
}

}  // namespace redlock::bench
