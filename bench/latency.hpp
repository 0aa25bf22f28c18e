// The latency and throughput measurers: one caller on the async client (acquire, or
// acquire_all of K resources), one on the blocking client, and chains in flight at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "redlock/async_client.hpp"
#include "redlock/redlock.hpp"

namespace redlock::bench {

// One caller, acquire then release on distinct keys, on the async client: the engine's own
// latency, without a thread hand-off. Only the acquire is timed; with time_failures, a failed
// acquire is timed too (the time to fail) and counted as an error. With lock_all(k), each lock
// is one acquire_all of k resources.
class async_latency_measurer final : public measurer {
 public:
  explicit async_latency_measurer(const std::vector<std::string>& urls,
                                  std::string scenario = "latency", std::string fault = "healthy",
                                  bool time_failures = false, bool fenced = false);
  // The same on a client made with `options` (Sentinel groups, replica acknowledgement).
  async_latency_measurer(const redlock::client_options& options, std::string scenario,
                         std::string fault = "healthy", bool time_failures = false,
                         bool fenced = false);

  void lock_all(std::size_t k) { resources = k; }

  // Times one acquire (and its release), outside the samples.
  double one_us();

 private:
  void run_for(clock_type::duration slice) override;
  void next();

  loop_client client_;
  std::string prefix_;
  bool time_failures_;
  redlock::acquire_options acquire_;
  clock_type::time_point until_;
  clock_type::time_point last_;  // when the last acquire finished
  int remaining_ = -1;           // acquires left to start; -1: until `until_`
  std::size_t next_ = 0;
};

// The same with the blocking client: adds the hand-off to and from the client's loop thread.
class blocking_latency_measurer final : public measurer {
 public:
  explicit blocking_latency_measurer(const std::vector<std::string>& urls);
  // On a client made with `options`; the row is named `scenario`, and so are its keys.
  blocking_latency_measurer(const redlock::client_options& options, std::string scenario);

 private:
  void run_for(clock_type::duration slice) override;

  std::optional<redlock::client> client_;
  std::string prefix_;
  std::size_t next_ = 0;
};

// Throughput: one async client, `concurrency` acquire+release chains in flight on distinct
// keys; ops counts lock+unlock pairs. The acquire latency under that load is sampled too.
class throughput_measurer final : public measurer {
 public:
  throughput_measurer(const std::vector<std::string>& urls, int concurrency);

 private:
  void run_for(clock_type::duration slice) override;
  void chain(int lane);

  loop_client client_;
  clock_type::time_point until_;
  std::size_t next_ = 0;
};

// Throughput of the blocking client: `threads` threads on one client, each acquire then
// release on distinct keys; ops counts lock+unlock pairs, and each acquire is sampled.
class blocking_throughput_measurer final : public measurer {
 public:
  blocking_throughput_measurer(const std::vector<std::string>& urls, int threads);

 private:
  void run_for(clock_type::duration slice) override;

  std::optional<redlock::client> client_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace redlock::bench
