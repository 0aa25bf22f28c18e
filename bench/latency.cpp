// The latency and throughput measurers on the async and the blocking client.
#include "latency.hpp"

#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace redlock::bench {
namespace {

redlock::client_options throughput_options(const std::vector<std::string>& urls) {
  redlock::client_options options = client_options_for(urls);
  options.node_timeout = milliseconds(1000);  // queues get long at 256 in flight
  return options;
}

}  // namespace

async_latency_measurer::async_latency_measurer(const std::vector<std::string>& urls,
                                               std::string scenario, std::string fault,
                                               bool time_failures, bool fenced)
    : async_latency_measurer(client_options_for(urls), std::move(scenario), std::move(fault),
                             time_failures, fenced) {}

async_latency_measurer::async_latency_measurer(const redlock::client_options& options,
                                               std::string scenario, std::string fault,
                                               bool time_failures, bool fenced)
    : measurer(scenario, "async_client", options.endpoints.size(), fault),
      client_(options),
      prefix_(scenario + ":" + fault + (fenced ? ":fenced:" : ":") +
              std::to_string(options.replica_ack.replicas) + ":"),
      time_failures_(time_failures) {
  fencing = fenced;
  replica_acks = options.replica_ack.replicas;
  acquire_.fencing = fenced;
}

double async_latency_measurer::one_us() {
  until_ = clock_type::now() + std::chrono::hours(1);
  remaining_ = 1;
  auto start = clock_type::now();
  next();
  client_.run();
  remaining_ = -1;
  return micros(last_ - start);
}

void async_latency_measurer::run_for(clock_type::duration slice) {
  until_ = clock_type::now() + slice;
  next();
  client_.run();  // returns once the last release is done
}

void async_latency_measurer::next() {
  if (clock_type::now() >= until_ || remaining_ == 0) return;
  if (remaining_ > 0) --remaining_;
  std::string resource = prefix_ + std::to_string(next_++);
  std::vector<std::string> all;
  for (std::size_t k = 0; k < resources; ++k)
    all.push_back(resource + ":" + std::to_string(k));
  auto start = clock_type::now();
  auto granted = [this, start](redlock::result<redlock::lease> r) {
    last_ = clock_type::now();
    if (!r) {
      if (time_failures_) sample(clock_type::now() - start);
      error();
      next();
      return;
    }
    sample(clock_type::now() - start);
    (void)client_->release(std::move(*r), [this](redlock::result<void> released) {
      if (!released) error();
      next();
    });
  };
  auto started = resources == 0
                     ? client_->acquire(resource, acquire_, std::move(granted))
                     : client_->acquire_all(std::move(all), acquire_, std::move(granted));
  if (!started) throw std::runtime_error(started.message());
}

blocking_latency_measurer::blocking_latency_measurer(const std::vector<std::string>& urls)
    : blocking_latency_measurer(client_options_for(urls), "latency") {}

blocking_latency_measurer::blocking_latency_measurer(const redlock::client_options& options,
                                                     std::string scenario)
    : measurer(scenario, "client", options.endpoints.size()),
      prefix_(scenario + ":" + std::to_string(options.replica_ack.replicas) + ":") {
  replica_acks = options.replica_ack.replicas;
  auto made = redlock::client::create(options);
  if (!made) throw std::runtime_error(made.message());
  client_.emplace(std::move(*made));
}

void blocking_latency_measurer::run_for(clock_type::duration slice) {
  auto until = clock_type::now() + slice;
  while (clock_type::now() < until) {
    time_acquire_then_release(*client_, prefix_ + std::to_string(next_++), clock_type::now());
  }
}

throughput_measurer::throughput_measurer(const std::vector<std::string>& urls, int concurrency)
    : measurer("throughput", "async_client", urls.size()), client_(throughput_options(urls)) {
  concurrency_ = concurrency;
}

void throughput_measurer::run_for(clock_type::duration slice) {
  until_ = clock_type::now() + slice;
  for (int c = 0; c < concurrency_; ++c)
    chain(c);
  client_.run();  // returns once every chain has stopped
}

void throughput_measurer::chain(int lane) {
  if (clock_type::now() >= until_) return;
  auto start = clock_type::now();
  std::string key = "throughput:" + std::to_string(concurrency_) + ":" + std::to_string(lane) +
                    ":" + std::to_string(next_++);
  auto started = client_->acquire(key, {}, [this, lane, start](redlock::result<redlock::lease> r) {
    if (!r) {
      error();
      chain(lane);
      return;
    }
    sample(clock_type::now() - start);
    (void)client_->release(std::move(*r), [this, lane](redlock::result<void> released) {
      if (released) {
        count_ops();
      } else {
        error();
      }
      chain(lane);
    });
  });
  if (!started) throw std::runtime_error(started.message());
}

blocking_throughput_measurer::blocking_throughput_measurer(const std::vector<std::string>& urls,
                                                           int threads)
    : measurer("throughput", "client", urls.size()) {
  concurrency_ = threads;
  auto made = redlock::client::create(throughput_options(urls));
  if (!made) throw std::runtime_error(made.message());
  client_.emplace(std::move(*made));
}

void blocking_throughput_measurer::run_for(clock_type::duration slice) {
  auto until = clock_type::now() + slice;
  std::mutex record;  // sample() and the counters are the measurer's, not thread-safe
  std::vector<std::thread> workers;
  for (int t = 0; t < concurrency_; ++t) {
    workers.emplace_back([&, t] {
      std::string prefix =
          "threads:" + std::to_string(concurrency_) + ":" + std::to_string(t) + ":";
      while (clock_type::now() < until) {
        auto start = clock_type::now();
        redlock::result<redlock::lease> r = client_->acquire(prefix + std::to_string(next_++));
        auto took = clock_type::now() - start;
        bool released = r && r->release();
        std::lock_guard<std::mutex> lock(record);
        if (!r) {
          error();
          continue;
        }
        sample(took);
        if (released) {
          count_ops();
        } else {
          error();
        }
      }
    });
  }
  for (std::thread& w : workers)
    w.join();
}

}  // namespace redlock::bench
