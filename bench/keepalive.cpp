// The keepalive scenario: the client's CPU, the servers' script calls and the memory per lease
// while auto-extension keeps leases alive.
#include "keepalive.hpp"

#include <hiredis/hiredis.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <utility>

namespace redlock::bench {
namespace {

// Script calls (EVALSHA and EVAL) each server has served since it started.
std::vector<long long> script_calls(const std::vector<redisContext*>& nodes) {
  std::vector<long long> out;
  for (redisContext* c : nodes) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO commandstats"));
    if (r == nullptr || r->type != REDIS_REPLY_STRING) throw std::runtime_error("INFO failed");
    std::string stats(r->str, r->len);
    freeReplyObject(r);
    long long total = 0;
    for (std::string name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
      auto at = stats.find(name);
      if (at != std::string::npos) total += std::stoll(stats.substr(at + name.size()));
    }
    out.push_back(total);
  }
  return out;
}

double self_cpu_us() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

}  // namespace

row measure_keepalive(const std::vector<std::string>& urls, std::size_t leases, milliseconds window,
                      milliseconds node_timeout) {
  const milliseconds ttl(10000);
  redlock::client_options client_options = client_options_for(urls);
  client_options.node_timeout = node_timeout;
  loop_client client(client_options);
  client.wait_ready("keepalive");

  redlock::acquire_options options;
  options.ttl = ttl;
  // Queue for room in the nodes' windows; one attempt (distinct keys: none is refused), so
  // that the acquires do not subscribe to release notices, which is not keepalive work.
  options.wait = milliseconds(60000);
  options.max_attempts = 1;
  options.auto_extend.enabled = true;
  std::vector<redlock::lease> held;
  held.reserve(leases);
  std::size_t answered = 0;
  std::string first_error;
  malloc_trim(0);
  std::size_t baseline = resident_bytes();
  for (std::size_t i = 0; i < leases; ++i) {
    auto issued = client->acquire("keepalive:" + std::to_string(i), options,
                                  [&](redlock::result<redlock::lease> r) {
                                    ++answered;
                                    if (r) {
                                      held.push_back(std::move(*r));
                                    } else if (first_error.empty()) {
                                      first_error = r.message();
                                    }
                                  });
    if (!issued) throw std::runtime_error(issued.message());
  }
  while (answered < leases) {
    if (!client.run_once()) throw std::runtime_error("keepalive: the loop stopped early");
  }
  malloc_trim(0);
  std::size_t after_grants = resident_bytes();
  // The grants' aftermath (second sends of releases of attempts that timed out in the queue,
  // owed releases) is not keepalive work: let it pass before the window.
  client.run_for(milliseconds(1000));

  std::vector<redisContext*> servers = connect_all(urls);
  std::vector<long long> calls_before = script_calls(servers);
  auto metrics_before = client->metrics();
  double cpu_before = self_cpu_us();
  auto start = clock_type::now();
  client.run_for(window);
  double wall_us = micros(clock_type::now() - start);
  double cpu_us = self_cpu_us() - cpu_before;
  std::vector<long long> calls_after = script_calls(servers);
  auto metrics_after = client->metrics();
  if (!metrics_before || !metrics_after) throw std::runtime_error("keepalive: no metrics");
  for (redisContext* c : servers)
    redisFree(c);

  row r;
  r.scenario = "keepalive";
  r.client = "async_client";
  r.nodes = urls.size();
  r.fault = "timeout " + std::to_string(node_timeout.count()) + "ms";
  r.concurrency = static_cast<int>(leases);
  r.leases = held.size();
  std::size_t lost = 0;
  for (const redlock::lease& l : held)
    lost += l.lost() ? 1u : 0u;
  r.errors = (leases - held.size()) + lost;
  r.first_error = first_error;
  // Automatic extensions in the window, and those that failed (each retried, unbatched by
  // the grid, while validity lasts).
  r.ops = metrics_after->auto_extends.succeeded - metrics_before->auto_extends.succeeded;
  r.extends_failed = metrics_after->auto_extends.failed - metrics_before->auto_extends.failed;
  r.client_cpu_fraction = cpu_us / wall_us;
  // An extension period: extend_at (0.5) of the validity a success leaves (ttl less drift).
  double period_us = 0.5 * (static_cast<double>(ttl.count()) * 0.99 - 2) * 1000;
  double calls = 0;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    calls += static_cast<double>(calls_after[i] - calls_before[i]);
  }
  r.commands_per_period_per_node =
      calls / static_cast<double>(servers.size()) / (wall_us / period_us);
  r.bytes_per_lease = static_cast<double>(after_grants - std::min(after_grants, baseline)) /
                      static_cast<double>(std::max<std::size_t>(held.size(), 1));
  held.clear();  // each lease releases itself; the loop_client's destructor drains them
  client.run();
  return r;
}

}  // namespace redlock::bench
