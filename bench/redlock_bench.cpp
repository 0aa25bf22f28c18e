// redlock-bench: the scenario runner. It starts its own local fleet of redis-server processes
// (or uses --servers), runs named scenarios, prints a table and writes JSON.
//
//   redlock-bench --scenario all --seconds 2 --json bench.json
//   redlock-bench --servers redis://10.0.0.1:6379,redis://10.0.0.2:6379 --scenario latency
//
// Every figure is reported with the floor measured in the same run (one plain SET round trip
// to one node), because absolute numbers on a shared machine mean little.
#include <hiredis/hiredis.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "redis_fleet.hpp"
#include "redlock/async_client.hpp"
#include "redlock/redlock.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options {
  std::size_t nodes = 0;  // 0: the scenario's own set of fleet sizes
  std::vector<std::string> servers;
  std::string scenario = "all";
  double seconds = 2.0;
  std::string json;
};

struct row {
  std::string scenario;
  std::string client;  // how it was measured: hiredis-sync, async_client, client
  std::size_t nodes = 1;
  std::string fault = "healthy";
  int concurrency = 1;
  std::size_t ops = 0;
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::size_t errors = 0;
  double floor_p50_us = 0;
  double ratio_to_floor = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Where the servers are: the given URLs, or a local fleet of `n` started for the scenario.
struct servers {
  std::unique_ptr<redlock::testing::redis_fleet> fleet;
  std::vector<std::string> urls;
};

servers servers_for(const options& o, std::size_t n) {
  servers s;
  if (!o.servers.empty()) {
    if (o.servers.size() < n) {
      throw std::runtime_error("--servers gives " + std::to_string(o.servers.size()) + " URLs; " +
                               std::to_string(n) + " needed");
    }
    s.urls.assign(o.servers.begin(), o.servers.begin() + static_cast<std::ptrdiff_t>(n));
    return s;
  }
  s.fleet = std::make_unique<redlock::testing::redis_fleet>(n);
  s.urls = s.fleet->urls();
  return s;
}

// host and port of a redis:// URL (the bench's own simple needs).
std::pair<std::string, int> host_port(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  if (auto at = rest.rfind('@'); at != std::string::npos)
    rest = rest.substr(at + 1);
  if (auto slash = rest.find('/'); slash != std::string::npos)
    rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (!host.empty() && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  return {host, colon == std::string::npos ? 6379 : std::stoi(rest.substr(colon + 1))};
}

// The floor: a plain SET round trip to one node with hiredis's blocking API, one at a time.
row measure_floor(const options& o) {
  servers s = servers_for(o, 1);
  auto [host, port] = host_port(s.urls[0]);
  redisContext* c = redisConnect(host.c_str(), port);
  if (c == nullptr || c->err)
    throw std::runtime_error("floor: cannot connect to " + s.urls[0]);
  std::vector<double> samples;
  std::size_t errors = 0;
  auto until = clock_type::now() + std::chrono::duration<double>(o.seconds);
  std::size_t i = 0;
  while (clock_type::now() < until) {
    std::string key = "floor:" + std::to_string(i++);
    auto start = clock_type::now();
    auto* r = static_cast<redisReply*>(redisCommand(c, "SET %s v PX 10000", key.c_str()));
    auto took = clock_type::now() - start;
    if (r == nullptr || r->type == REDIS_REPLY_ERROR)
      ++errors;
    if (r != nullptr)
      freeReplyObject(r);
    if (i > 200)
      samples.push_back(micros(took));  // skip the warm-up
  }
  redisFree(c);
  row out;
  out.scenario = "floor";
  out.client = "hiredis-sync";
  out.ops = samples.size();
  out.ops_per_s = static_cast<double>(samples.size()) / o.seconds;
  out.p50_us = percentile(samples, 0.5);
  out.p99_us = percentile(samples, 0.99);
  out.errors = errors;
  out.floor_p50_us = out.p50_us;
  out.ratio_to_floor = 1.0;
  return out;
}

redlock::client_options client_options_for(const std::vector<std::string>& urls) {
  redlock::client_options c;
  c.endpoints = urls;
  c.node_timeout = milliseconds(50);
  return c;
}

// One caller, acquire then release on distinct keys, on the async client: the engine's own
// latency without a thread hand-off.
row measure_async_latency(const options& o, std::size_t n, const row& floor) {
  servers s = servers_for(o, n);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<double> samples;
  std::size_t errors = 0;
  {
    auto made = redlock::async_client::create(&loop, client_options_for(s.urls));
    if (!made)
      throw std::runtime_error(made.message());
    redlock::async_client locks = std::move(*made);
    auto until = clock_type::now() + std::chrono::duration<double>(o.seconds);
    std::size_t i = 0;
    std::function<void()> next = [&] {
      if (clock_type::now() >= until)
        return;
      auto start = clock_type::now();
      std::string key = "latency:" + std::to_string(i++);
      auto started = locks.acquire(key, {}, [&, start](redlock::result<redlock::lease> r) {
        auto took = clock_type::now() - start;
        if (!r) {
          ++errors;
          next();
          return;
        }
        if (i > 200)
          samples.push_back(micros(took));
        (void)locks.release(std::move(*r), [&](redlock::result<void> released) {
          if (!released)
            ++errors;
          next();
        });
      });
      if (!started)
        throw std::runtime_error(started.message());
    };
    next();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  row out;
  out.scenario = "latency";
  out.client = "async_client";
  out.nodes = n;
  out.ops = samples.size();
  out.ops_per_s = static_cast<double>(samples.size()) / o.seconds;
  out.p50_us = percentile(samples, 0.5);
  out.p99_us = percentile(samples, 0.99);
  out.errors = errors;
  out.floor_p50_us = floor.p50_us;
  out.ratio_to_floor = out.p50_us / floor.p50_us;
  return out;
}

// The same with the blocking client: adds the hand-off to and from the client's loop thread.
row measure_blocking_latency(const options& o, std::size_t n, const row& floor) {
  servers s = servers_for(o, n);
  auto made = redlock::client::create(client_options_for(s.urls));
  if (!made)
    throw std::runtime_error(made.message());
  redlock::client locks = std::move(*made);
  std::vector<double> samples;
  std::size_t errors = 0;
  auto until = clock_type::now() + std::chrono::duration<double>(o.seconds);
  for (std::size_t i = 0; clock_type::now() < until; ++i) {
    auto start = clock_type::now();
    redlock::result<redlock::lease> r = locks.acquire("latency:" + std::to_string(i));
    auto took = clock_type::now() - start;
    if (!r) {
      ++errors;
      continue;
    }
    if (i > 200)
      samples.push_back(micros(took));
    if (!r->release())
      ++errors;
  }
  row out;
  out.scenario = "latency";
  out.client = "client";
  out.nodes = n;
  out.ops = samples.size();
  out.ops_per_s = static_cast<double>(samples.size()) / o.seconds;
  out.p50_us = percentile(samples, 0.5);
  out.p99_us = percentile(samples, 0.99);
  out.errors = errors;
  out.floor_p50_us = floor.p50_us;
  out.ratio_to_floor = out.p50_us / floor.p50_us;
  return out;
}

std::string machine_json() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ostringstream out;
  out << "{\"host\": \"" << u.nodename << "\", \"kernel\": \"" << u.release << "\", \"cpu\": \""
      << cpu << "\", \"cores\": " << sysconf(_SC_NPROCESSORS_ONLN) << "}";
  return out.str();
}

void write_json(const std::string& path, const std::vector<row>& rows) {
  std::ofstream out(path);
  out << "{\"machine\": " << machine_json() << ",\n \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "  {\"scenario\": \"%s\", \"client\": \"%s\", \"nodes\": %zu, \"fault\": \"%s\", "
        "\"concurrency\": %d, \"ops\": %zu, \"ops_per_s\": %.1f, \"p50_us\": %.1f, "
        "\"p99_us\": %.1f, \"errors\": %zu, \"floor_p50_us\": %.1f, \"ratio_to_floor\": %.3f}%s\n",
        r.scenario.c_str(), r.client.c_str(), r.nodes, r.fault.c_str(), r.concurrency, r.ops,
        r.ops_per_s, r.p50_us, r.p99_us, r.errors, r.floor_p50_us, r.ratio_to_floor,
        i + 1 < rows.size() ? "," : "");
    out << buf;
  }
  out << " ]}\n";
}

void print_row(const row& r) {
  std::printf("%-9s %-13s %5zu %-8s %11d %9zu %11.0f %9.1f %9.1f %6zu %8.2fx\n", r.scenario.c_str(),
              r.client.c_str(), r.nodes, r.fault.c_str(), r.concurrency, r.ops, r.ops_per_s,
              r.p50_us, r.p99_us, r.errors, r.ratio_to_floor);
  std::fflush(stdout);
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(
      stderr,
      "redlock-bench: %s\n"
      "usage: redlock-bench [--nodes N | --servers URL,URL,...] [--scenario floor|latency|all]\n"
      "                     [--seconds S] [--json FILE]\n",
      problem.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage("option " + arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--nodes") {
      int n = std::atoi(value().c_str());
      if (n < 1 || n > 15)
        usage("--nodes must be in 1..15");
      o.nodes = static_cast<std::size_t>(n);
    } else if (arg == "--servers") {
      std::stringstream list(value());
      for (std::string url; std::getline(list, url, ',');) {
        if (!url.empty())
          o.servers.push_back(url);
      }
      if (o.servers.empty())
        usage("--servers needs at least one URL");
    } else if (arg == "--scenario") {
      o.scenario = value();
      if (o.scenario != "floor" && o.scenario != "latency" && o.scenario != "all") {
        usage("unknown scenario '" + o.scenario + "'");
      }
    } else if (arg == "--seconds") {
      o.seconds = std::atof(value().c_str());
      if (!(o.seconds > 0 && o.seconds <= 600))
        usage("--seconds must be in (0, 600]");
    } else if (arg == "--json") {
      o.json = value();
    } else if (arg == "--help" || arg == "-h") {
      usage("help");
    } else {
      usage("unknown option '" + arg + "'");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  try {
    std::vector<row> rows;
    std::printf("%-9s %-13s %5s %-8s %11s %9s %11s %9s %9s %6s %9s\n", "scenario", "client",
                "nodes", "fault", "concurrency", "ops", "ops/s", "p50 us", "p99 us", "errors",
                "vs floor");
    row floor = measure_floor(o);
    rows.push_back(floor);
    print_row(floor);
    if (o.scenario == "latency" || o.scenario == "all") {
      std::vector<std::size_t> sizes = {1, 3, 5, 7};
      if (o.nodes != 0)
        sizes = {o.nodes};
      if (!o.servers.empty())
        sizes = {o.servers.size()};
      for (std::size_t n : sizes) {
        rows.push_back(measure_async_latency(o, n, floor));
        print_row(rows.back());
      }
      for (std::size_t n : sizes) {
        rows.push_back(measure_blocking_latency(o, n, floor));
        print_row(rows.back());
      }
    }
    if (!o.json.empty())
      write_json(o.json, rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redlock-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
