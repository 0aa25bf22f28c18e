// What every part of redlock-bench shares: the options, the row each measurement reports,
// the statistics and CPU helpers, the measurer base class, and the connection helpers.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "redlock/async_client.hpp"
#include "redlock/redlock.hpp"

namespace redlock::bench {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options {
  std::size_t nodes = 0;  // 0: the scenario's own set of fleet sizes
  std::vector<std::string> servers;
  std::string scenario = "all";  // floor, latency, ..., multi, sentinel (see usage())
  double seconds = 2.0;
  std::string json;
  bool tls = false;  // also measure over TLS (rediss://), on the same fleet
};

struct row {
  std::string scenario;
  std::string client;  // how it was measured: hiredis-sync, async_client, client
  bool tls = false;
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
  // Latency rows: the floor of the same fleet size (one SET at N = 1, the fan-out floor above;
  // over TLS, OpenSSL's), and the row's p50 and p99 against that floor's.
  double nodes_floor_p50_us = 0;
  double nodes_floor_p99_us = 0;
  double ratio_to_nodes_floor = 0;
  double p99_ratio_to_nodes_floor = 0;
  // Throughput rows of the blocking client (concurrency = threads): pairs/s against those of
  // async_client with 16 in flight, in the same run.
  double ratio_to_async16 = 0;
  double ratio_to_healthy = 0;     // failover rows: p50 against the healthy row of the same fleet
  double first_us = 0;             // failover rows: the first acquire after the fault struck
  double fairness = -1;            // contention rows: Jain's index of acquisitions per client
  double commands_per_grant = -1;  // contention rows: requests to the nodes per acquisition
  // The CPU split (throughput and capacity rows on the bench's own fleet; -1: not measured),
  // per op: this process's CPU, the fleet's servers' CPU, and the share of all cores both used.
  double client_cpu_us = -1;
  double servers_cpu_us = -1;
  double cores_used = -1;
  double client_switches = -1;  // this process's context switches per op (every thread)
  double capacity_per_s = 0;    // the capacity row: SET/s the servers execute with every core
  // Burst rows (concurrency is the burst size B, ops the acquires granted).
  std::size_t overloaded = 0;      // refused with errc::overloaded
  double success_rate = -1;        // granted / B
  double issue_ms = 0;             // the B acquire calls themselves
  double drain_ms = 0;             // from the first acquire call to the last callback
  double bytes_per_request = 0;    // peak RSS growth while draining / B
  std::size_t release_errors = 0;  // releases of the granted leases that failed
  std::string first_error;         // burst rows: the first other error's or failed release's
  // Latency rows of acquires with acquire_options::fencing, and their p50 against the row of
  // the same client and fleet without it, measured in the same run.
  bool fencing = false;
  double ratio_to_unfenced = 0;
  // Multi rows: the resources in each lock (acquire_all); ratio_to_floor is then against the
  // fan-out floor of the same fleet size.
  std::size_t resources = 0;
  double ratio_to_script_floor = 0;  // multi rows: against the script-fanout floor of K keys
  // The keepalive row: leases kept alive by auto-extension, this process's CPU over the
  // measured window as a fraction of one core, script calls each node served per extension
  // period (mean over the nodes), and resident memory per lease held.
  std::size_t leases = 0;
  std::size_t extends_failed = 0;  // automatic extensions that failed in the window
  double client_cpu_fraction = -1;
  double commands_per_period_per_node = -1;
  double bytes_per_lease = -1;
  // Sentinel rows: the replicas each grant waited for (client_options::replica_ack), and the
  // p50 against the row of the same client and fleet with it off, measured in the same run.
  int replica_acks = 0;
  double ratio_to_unacked = 0;
  // Sentinel comeback rows (a group's master killed at t0): when a quorum of its sentinels
  // named the promoted replica, when health() showed the group connected to it, and when the
  // group's vote was first granted again (-1: not seen).
  double sentinel_switch_ms = -1;
  double health_back_ms = -1;
  double vote_back_ms = -1;
};

double percentile(std::vector<double> v, double p);

double micros(clock_type::duration d);

// The cores the client and the servers share (the machine's, when the fleet is local).
long cores();

// This process's resident memory (/proc/self/statm: size, then resident pages).
std::size_t resident_bytes();

// Where the CPU goes while a measurer runs: this process (every thread: the client's loop, or
// the capacity row's pipelining threads) against the fleet's redis-servers, which share the
// machine's cores with it.
class cpu_meter {
 public:
  struct reading {
    double client_us = 0;
    double servers_us = 0;
    double client_switches = 0;  // this process's context switches (every thread)
    reading& operator+=(const reading& o) {
      client_us += o.client_us;
      servers_us += o.servers_us;
      client_switches += o.client_switches;
      return *this;
    }
    reading operator-(const reading& o) const {
      return {client_us - o.client_us, servers_us - o.servers_us,
              client_switches - o.client_switches};
    }
  };
  explicit cpu_meter(std::vector<pid_t> servers) : servers_(std::move(servers)) {}
  reading now() const;

 private:
  std::vector<pid_t> servers_;
};

// Each measurer owns its connections and adds samples while run_for() lasts. Measurers run in
// interleaved slices (floor, then each client, then again...), so a machine that slows down
// or speeds up during the run affects the floor and the lock alike.
class measurer {
 public:
  measurer(std::string scenario, std::string client, std::size_t nodes,
           std::string fault = "healthy")
      : scenario_(std::move(scenario)),
        client_(std::move(client)),
        nodes_(nodes),
        fault_(std::move(fault)) {}
  virtual ~measurer() = default;
  void run(clock_type::duration slice, bool record);
  bool tls = false;                // the measured client speaks TLS
  bool fencing = false;            // the measured acquires ask for a fencing token
  std::size_t resources = 0;       // multi rows: resources per lock
  int replica_acks = 0;            // the measured client's replica_ack.replicas
  const cpu_meter* cpu = nullptr;  // set: the row reports the CPU split
  row summary(double floor_p50_us) const;

 protected:
  virtual void run_for(clock_type::duration slice) = 0;
  int concurrency_ = 1;
  void sample(clock_type::duration took) {
    if (recording_) samples_.push_back(micros(took));
  }
  void error() {
    if (recording_) ++errors_;
  }
  // One acquire of `key` on `locks`, timed from `start` (an error if refused), then its
  // release.
  void time_acquire_then_release(redlock::client& locks, const std::string& key,
                                 clock_type::time_point start);
  // For measurers whose operations are not the timed samples (throughput, capacity).
  void count_ops(std::size_t n = 1) {
    if (recording_) counted_ops_ += n;
  }

 private:
  std::string scenario_;
  std::string client_;
  std::size_t nodes_;
  std::string fault_;
  bool recording_ = false;
  std::vector<double> samples_;
  std::size_t errors_ = 0;
  std::size_t counted_ops_ = 0;
  clock_type::duration measured_{};
  cpu_meter::reading cpu_used_;
};

// A warm-up slice each, then interleaved slices of 100 ms until each had `seconds`: a machine
// that slows down or speeds up during the run affects every measurer alike.
void run_interleaved(const std::vector<std::unique_ptr<measurer>>& measurers, double seconds);

// host and port of a redis:// URL (the bench's own simple needs).
std::pair<std::string, int> host_port(const std::string& url);

std::vector<redisContext*> connect_all(const std::vector<std::string>& urls);

// The CA of the fleet's TLS servers (--tls).
extern std::string tls_ca_file;

redlock::client_options client_options_for(const std::vector<std::string>& urls);

// An async client on a loop of its own. Destroying it closes the client and runs the loop
// until every handle is closed.
class loop_client {
 public:
  explicit loop_client(const redlock::client_options& options);
  loop_client(const loop_client&) = delete;
  loop_client& operator=(const loop_client&) = delete;
  ~loop_client();
  redlock::async_client* operator->() { return &*client_; }
  // Runs the loop until nothing is in flight and no lock is held.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // One loop iteration (waiting for I/O if there is none); false once nothing keeps it alive.
  bool run_once() { return uv_run(&loop_, UV_RUN_ONCE) != 0; }
  // Runs the loop for `d` (held leases keep it alive meanwhile).
  void run_for(milliseconds d);
  // Runs the loop until a majority of the nodes is ready (10 s at most), so that what is
  // measured next is not the handshakes; throws, naming `scenario`, if they are not.
  void wait_ready(const char* scenario);

 private:
  uv_loop_t loop_;
  std::optional<redlock::async_client> client_;
};

}  // namespace redlock::bench
