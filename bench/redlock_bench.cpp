// redlock-bench: the scenario runner. It starts its own local fleet of redis-server processes
// (or uses --servers), runs named scenarios, prints a table and writes JSON.
//
//   redlock-bench --scenario all --seconds 2 --json bench.json
//   redlock-bench --servers redis://10.0.0.1:6379,redis://10.0.0.2:6379 --scenario latency
//   redlock-bench --scenario burst     # 1k to 100k acquires at once, with and without a wait
//   redlock-bench --scenario keepalive # 10k auto-extended leases kept alive (not in `all`)
//   redlock-bench --scenario multi     # locks on K = 1, 4, 16 resources (acquire_all)
//   redlock-bench --scenario sentinel  # Sentinel groups: replica acks, failover (not in `all`)
//
// Every figure is reported with the floor measured in the same run (one plain SET round trip
// to one node), because absolute numbers on a shared machine mean little. The throughput rows
// also report how the CPU splits between this process and the servers (docs/benchmarks.md).
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "burst.hpp"
#include "contention.hpp"
#include "failover.hpp"
#include "floors.hpp"
#include "keepalive.hpp"
#include "latency.hpp"
#include "redis_fleet.hpp"
#include "report.hpp"
#include "sentinel.hpp"
#include "startup.hpp"
#include "timeline.hpp"

using namespace redlock::bench;

namespace {

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(
      stderr,
      "redlock-bench: %s\n"
      "usage: redlock-bench [--nodes N | --servers URL,URL,...]\n"
      "                     [--scenario floor|latency|throughput|failover|contention|burst|\n"
      "                                 keepalive|multi|sentinel|all]\n"
      "                     [--seconds S] [--json FILE] [--tls]\n",
      problem.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("option " + arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--nodes") {
      int n = std::atoi(value().c_str());
      if (n < 1 || n > 15) usage("--nodes must be in 1..15");
      o.nodes = static_cast<std::size_t>(n);
    } else if (arg == "--servers") {
      std::stringstream list(value());
      for (std::string url; std::getline(list, url, ',');) {
        if (!url.empty()) o.servers.push_back(url);
      }
      if (o.servers.empty()) usage("--servers needs at least one URL");
    } else if (arg == "--scenario") {
      o.scenario = value();
      if (o.scenario != "floor" && o.scenario != "latency" && o.scenario != "throughput" &&
          o.scenario != "failover" && o.scenario != "contention" && o.scenario != "burst" &&
          o.scenario != "keepalive" && o.scenario != "multi" && o.scenario != "sentinel" &&
          o.scenario != "all") {
        usage("unknown scenario '" + o.scenario + "'");
      }
    } else if (arg == "--seconds") {
      o.seconds = std::atof(value().c_str());
      if (!(o.seconds > 0 && o.seconds <= 600)) usage("--seconds must be in (0, 600]");
    } else if (arg == "--json") {
      o.json = value();
    } else if (arg == "--tls") {
      o.tls = true;
    } else if (arg == "--help" || arg == "-h") {
      usage("help");
    } else {
      usage("unknown option '" + arg + "'");
    }
  }
  return o;
}

}  // namespace

bool is_latency_floor(const row& r) {
  return r.scenario == "floor" && r.resources == 0 && r.concurrency == 1;
}

// The ratios a row is judged by, against rows measured in the same run: latency rows against
// the floor of their own fleet size (p50 and p99), start-up rows against one connect and one
// SET, the blocking client's throughput against async_client's with 16 in flight.
void compare_with_floors(std::vector<row>& rows) {
  for (row& r : rows) {
    for (const row& other : rows) {
      if (r.scenario == "latency" && is_latency_floor(other) && other.nodes == r.nodes &&
          other.tls == r.tls) {
        r.nodes_floor_p50_us = other.p50_us;
        r.nodes_floor_p99_us = other.p99_us;
        r.ratio_to_nodes_floor = r.p50_us / other.p50_us;
        r.p99_ratio_to_nodes_floor = r.p99_us / other.p99_us;
      }
      if (r.scenario == "startup" && r.client != "hiredis-connect" && other.scenario == "startup" &&
          other.client == "hiredis-connect") {
        r.floor_p50_us = other.p50_us;
        r.ratio_to_floor = r.p50_us / other.p50_us;
      }
      if (r.scenario == "throughput" && r.client == "client" && other.scenario == "throughput" &&
          other.client == "async_client" && other.concurrency == 16 && !other.tls) {
        r.ratio_to_async16 = r.ops_per_s / other.ops_per_s;
      }
    }
  }
}

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  try {
    // Not in `all` (CI's smoke run): the sentinels take seconds to settle and to fail over. It
    // runs on a fleet of Sentinel groups of its own, not on the plain fleet.
    if (o.scenario == "sentinel") {
      if (!o.servers.empty() || o.tls) usage("--scenario sentinel runs on its own fleet only");
      std::vector<row> rows = measure_sentinel(o);
      print_header();
      for (const row& r : rows)
        print_row(r);
      if (!o.json.empty()) write_json(o.json, rows, {});
      return 0;
    }
    std::vector<std::size_t> sizes = {1, 3, 5, 7};
    if (o.nodes != 0) sizes = {o.nodes};
    if (!o.servers.empty()) sizes = {o.servers.size()};
    // Throughput runs on five nodes (or the given ones).
    std::size_t throughput_nodes = !o.servers.empty() ? o.servers.size()
                                   : o.nodes != 0     ? o.nodes
                                                      : 5;
    std::size_t largest = std::max(*std::max_element(sizes.begin(), sizes.end()), throughput_nodes);

    // One fleet for the whole run; a size-N measurer uses its first N nodes.
    std::unique_ptr<redlock::testing::redis_fleet> fleet;
    std::vector<std::string> urls = o.servers;
    std::vector<std::string> tls_urls;
    if (urls.empty()) {
      redlock::testing::node_options node;
      node.tls = o.tls;  // each server then listens on a TLS port too
      fleet = std::make_unique<redlock::testing::redis_fleet>(largest, node);
      urls = fleet->urls();
      if (o.tls) {
        tls_urls = fleet->tls_urls();
        tls_ca_file = fleet->certs().ca_cert;
      }
    } else if (o.tls) {
      usage("--tls runs on the bench's own fleet, not with --servers");
    }
    auto first = [&](std::size_t n) {
      return std::vector<std::string>(urls.begin(), urls.begin() + static_cast<std::ptrdiff_t>(n));
    };

    std::vector<std::unique_ptr<measurer>> measurers;
    measurers.push_back(std::make_unique<floor_measurer>(first(1)));
    for (std::size_t n : sizes) {
      if (n > 1) measurers.push_back(std::make_unique<floor_measurer>(first(n)));
    }
    if (o.scenario == "latency" || o.scenario == "all") {
      for (std::size_t n : sizes)
        measurers.push_back(std::make_unique<async_latency_measurer>(first(n)));
      for (std::size_t n : sizes) {
        measurers.push_back(
            std::make_unique<async_latency_measurer>(first(n), "latency", "healthy", false, true));
      }
      for (std::size_t n : sizes)
        measurers.push_back(std::make_unique<blocking_latency_measurer>(first(n)));
      measurers.push_back(std::make_unique<startup_floor_measurer>(first(1)));
      for (std::size_t n : {std::size_t{1}, throughput_nodes})
        measurers.push_back(std::make_unique<startup_measurer>(first(n)));
    }
    // TLS rows beside the plaintext ones, on the same servers, in the same run.
    auto tls_first = [&](std::size_t n) {
      return std::vector<std::string>(tls_urls.begin(),
                                      tls_urls.begin() + static_cast<std::ptrdiff_t>(n));
    };
    if (o.tls && (o.scenario == "latency" || o.scenario == "all")) {
      for (std::size_t n : sizes)
        measurers.push_back(std::make_unique<tls_floor_measurer>(tls_first(n)));
      for (std::size_t n : sizes) {
        measurers.push_back(std::make_unique<async_latency_measurer>(tls_first(n)));
        measurers.back()->tls = true;
      }
    }
    // Locks on K resources on the throughput fleet, against its fan-out floor.
    if (o.scenario == "multi" || o.scenario == "all") {
      for (std::size_t k : {std::size_t{1}, std::size_t{4}, std::size_t{16}})
        measurers.push_back(std::make_unique<floor_measurer>(first(throughput_nodes), k));
      for (std::size_t k : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
        auto m = std::make_unique<async_latency_measurer>(first(throughput_nodes), "multi");
        m->lock_all(k);
        measurers.push_back(std::move(m));
      }
    }
    bool throughput = o.scenario == "throughput" || o.scenario == "all";
    std::size_t capacity_index = measurers.size();
    // The CPU split needs the servers' pids: only on the bench's own fleet.
    std::optional<cpu_meter> throughput_cpu;
    if (fleet) {
      std::vector<pid_t> pids;
      for (std::size_t k = 0; k < throughput_nodes; ++k)
        pids.push_back(fleet->pid(k));
      throughput_cpu.emplace(std::move(pids));
    }
    if (throughput) {
      measurers.push_back(std::make_unique<capacity_measurer>(first(throughput_nodes)));
      for (int c : {1, 16, 256}) {
        measurers.push_back(std::make_unique<throughput_measurer>(first(throughput_nodes), c));
      }
      for (int threads : {16, 64}) {
        measurers.push_back(
            std::make_unique<blocking_throughput_measurer>(first(throughput_nodes), threads));
      }
      if (o.tls) {
        measurers.push_back(
            std::make_unique<throughput_measurer>(tls_first(throughput_nodes), 256));
        measurers.back()->tls = true;
      }
      for (std::size_t i = capacity_index; i < measurers.size(); ++i)
        measurers[i]->cpu = throughput_cpu ? &*throughput_cpu : nullptr;
    }

    run_interleaved(measurers, o.seconds);

    print_header();
    std::vector<row> rows;
    double floor_p50 = 0;
    double pairs_capacity = 0;  // the servers' SET/s with every core / 10 commands per pair
    for (std::size_t i = 0; i < measurers.size(); ++i) {
      rows.push_back(measurers[i]->summary(floor_p50));
      row& r = rows.back();
      if (floor_p50 == 0) floor_p50 = r.p50_us;  // the first measurer is the floor
      if (throughput && i == capacity_index) {
        r.capacity_per_s = servers_capacity(r);
        pairs_capacity = r.capacity_per_s / 10;
        r.ratio_to_floor = r.ops_per_s / r.capacity_per_s;
      } else if (r.scenario == "throughput") {
        r.ratio_to_floor = r.ops_per_s / pairs_capacity;  // against the capacity, not latency
      } else if (r.scenario == "multi") {
        for (const row& floor : rows) {
          if (floor.scenario != "floor" || floor.nodes != r.nodes) continue;
          if (floor.resources == 0) {
            r.floor_p50_us = floor.p50_us;
            r.ratio_to_floor = r.p50_us / floor.p50_us;
          } else if (floor.resources == r.resources) {
            r.ratio_to_script_floor = r.p50_us / floor.p50_us;
          }
        }
      } else if (r.fencing) {
        for (const row& plain : rows) {
          if (!plain.fencing && plain.scenario == r.scenario && plain.client == r.client &&
              plain.nodes == r.nodes && plain.tls == r.tls && plain.p50_us > 0)
            r.ratio_to_unfenced = r.p50_us / plain.p50_us;
        }
      }
    }
    compare_with_floors(rows);
    for (const row& r : rows)
      print_row(r);
    std::vector<timeline_point> timeline;
    if ((o.scenario == "failover" || o.scenario == "all") && o.servers.empty()) {
      for (const row& r : measure_failover(o, floor_p50)) {
        rows.push_back(r);
        print_row(r);
      }
      row restart;
      timeline = measure_timeline(restart);
      restart.floor_p50_us = floor_p50;
      restart.ratio_to_floor = restart.p50_us / floor_p50;
      rows.push_back(restart);
      print_row(restart);
    }
    if (o.scenario == "contention" || o.scenario == "all") {
      for (int w : {2, 8, 64}) {
        row r = measure_contention(first(throughput_nodes), w, o.seconds);
        r.floor_p50_us = floor_p50;
        r.ratio_to_floor = r.p50_us / floor_p50;
        rows.push_back(r);
        print_row(r);
      }
    }
    if (o.scenario == "burst" || o.scenario == "all") {
      // `all` is also CI's smoke run: only the smaller bursts there.
      std::vector<std::size_t> bursts = {1000, 10000};
      if (o.scenario == "burst") bursts = {1000, 10000, 50000, 100000};
      burst_measurer measure(first(throughput_nodes));
      for (milliseconds wait : {milliseconds(0), milliseconds(60000)}) {
        for (std::size_t b : bursts) {
          rows.push_back(measure.run(b, wait));
          print_row(rows.back());
        }
      }
    }
    // Not in `all` (CI's smoke run): it needs the grants plus two extension periods, ~12 s.
    if (o.scenario == "keepalive") {
      auto window =
          std::max(milliseconds(10000), milliseconds(static_cast<long long>(o.seconds * 1000)));
      // The default node_timeout (50 ms), and one that no batch's answer outlasts.
      for (milliseconds node_timeout : {milliseconds(50), milliseconds(500)}) {
        rows.push_back(measure_keepalive(first(throughput_nodes), 10000, window, node_timeout));
        print_row(rows.back());
      }
    }
    if (!o.json.empty()) write_json(o.json, rows, timeline);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redlock-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
