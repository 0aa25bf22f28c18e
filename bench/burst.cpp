// The burst scenario: the queueing, the grants' latency and the memory of B acquires at once.
#include "burst.hpp"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>

namespace redlock::bench {

struct burst_measurer::outcome {
  clock_type::time_point start;
  clock_type::time_point issued;  // the last acquire call returned
  clock_type::time_point last;    // the last callback
  std::vector<redlock::lease> granted;
  std::vector<double> grant_us;  // from the first acquire call to each grant
  std::size_t answered = 0;
  std::size_t overloaded = 0;
  std::size_t other = 0;
  std::string first_error;
  void add(redlock::result<redlock::lease> r) {
    last = clock_type::now();
    ++answered;
    if (r) {
      grant_us.push_back(micros(last - start));
      granted.push_back(std::move(*r));
    } else if (r.error() == redlock::errc::overloaded) {
      ++overloaded;
    } else if (other++ == 0) {
      first_error = r.message();
    }
  }
};

burst_measurer::burst_measurer(const std::vector<std::string>& urls)
    : client_(client_options_for(urls)), nodes_(urls.size()) {
  client_.wait_ready("burst");  // the bursts measure the queue, not the handshakes
}

row burst_measurer::run(std::size_t burst, milliseconds wait) {
  redlock::acquire_options options;
  options.wait = wait;
  // Longer than any drain and wait budget: a grant that queued long still has validity left
  // (the burst measures queueing, not expiry).
  options.ttl = milliseconds(120000);
  outcome out;
  out.granted.reserve(burst);
  // Memory freed by earlier work goes back to the system, so that the baseline is what is
  // in use and a burst's growth is not hidden in free heap left by an earlier one.
  malloc_trim(0);
  std::size_t baseline = resident_bytes();
  std::string prefix = "burst:" + std::to_string(wait.count()) + ":" + std::to_string(burst) + ":";
  out.start = clock_type::now();
  for (std::size_t i = 0; i < burst; ++i) {
    auto started =
        client_->acquire(prefix + std::to_string(i), options,
                         [o = &out](redlock::result<redlock::lease> r) { o->add(std::move(r)); });
    if (!started) throw std::runtime_error(started.message());
  }
  out.issued = clock_type::now();
  // Sampled right after the burst is queued (no callback has run yet), then at most once a
  // millisecond while it drains.
  std::size_t peak = resident_bytes();
  auto sampled = clock_type::now();
  while (out.answered < burst) {
    if (!client_.run_once()) throw std::runtime_error("burst: the loop stopped early");
    if (clock_type::now() - sampled >= milliseconds(1)) {
      peak = std::max(peak, resident_bytes());
      sampled = clock_type::now();
    }
  }
  peak = std::max(peak, resident_bytes());

  row r;
  r.scenario = "burst";
  r.client = "async_client";
  r.nodes = nodes_;
  r.fault = wait.count() == 0 ? "no wait" : "wait " + std::to_string(wait.count() / 1000) + "s";
  r.concurrency = static_cast<int>(burst);
  r.ops = out.granted.size();
  r.issue_ms = micros(out.issued - out.start) / 1000;
  r.drain_ms = micros(out.last - out.start) / 1000;
  r.ops_per_s = r.drain_ms > 0 ? static_cast<double>(r.ops) * 1000 / r.drain_ms : 0;
  r.p50_us = percentile(out.grant_us, 0.5);
  r.p99_us = percentile(out.grant_us, 0.99);
  r.errors = out.other;
  r.overloaded = out.overloaded;
  r.success_rate = static_cast<double>(r.ops) / static_cast<double>(burst);
  r.bytes_per_request =
      static_cast<double>(peak - std::min(peak, baseline)) / static_cast<double>(burst);
  r.first_error = out.first_error;
  r.release_errors = release_all(std::move(out.granted), r.first_error);
  return r;
}

std::size_t burst_measurer::release_all(std::vector<redlock::lease> leases,
                                        std::string& first_error) {
  std::size_t next = 0;
  std::size_t failed = 0;
  std::function<void()> release_next = [&] {
    if (next == leases.size()) return;
    auto started = client_->release(std::move(leases[next++]), [&](redlock::result<void> done) {
      if (!done && failed++ == 0 && first_error.empty()) first_error = done.message();
      release_next();
    });
    if (!started) throw std::runtime_error(started.message());
  };
  for (std::size_t k = 0; k < node_window; ++k)
    release_next();
  client_.run();
  return failed;
}

}  // namespace redlock::bench
