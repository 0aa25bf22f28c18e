// redlock-bench: the scenario runner. It starts its own local fleet of redis-server processes
// (or uses --servers), runs named scenarios, prints a table and writes JSON.
//
//   redlock-bench --scenario all --seconds 2 --json bench.json
//   redlock-bench --servers redis://10.0.0.1:6379,redis://10.0.0.2:6379 --scenario latency
//   redlock-bench --scenario burst     # 1k to 100k acquires at once, with and without a wait
//   redlock-bench --scenario keepalive # 10k auto-extended leases kept alive (not in `all`)
//   redlock-bench --scenario multi     # locks on K = 1, 4, 16 resources (acquire_all)
//
// Every figure is reported with the floor measured in the same run (one plain SET round trip
// to one node), because absolute numbers on a shared machine mean little. The throughput rows
// also report how the CPU splits between this process and the servers (docs/benchmarks.md).
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault_proxy.hpp"
#include "redis_fleet.hpp"
#include "redlock/async_client.hpp"
#include "redlock/redlock.hpp"
#include "scripts.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options {
  std::size_t nodes = 0;  // 0: the scenario's own set of fleet sizes
  std::vector<std::string> servers;
  std::string scenario = "all";  // floor, latency, throughput, failover, contention, burst, multi
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
  double ratio_to_healthy = 0;     // failover rows: p50 against the healthy row of the same fleet
  double first_us = 0;             // failover rows: the first acquire after the fault struck
  double fairness = -1;            // contention rows: Jain's index of acquisitions per client
  double commands_per_grant = -1;  // contention rows: requests to the nodes per acquisition
  // The CPU split (throughput and capacity rows on the bench's own fleet; -1: not measured),
  // per op: this process's CPU, the fleet's servers' CPU, and the share of all cores both used.
  double client_cpu_us = -1;
  double servers_cpu_us = -1;
  double cores_used = -1;
  double capacity_per_s = 0;  // the capacity row: SET/s the servers execute with every core
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
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// The cores the client and the servers share (the machine's, when the fleet is local).
long cores() {
  return sysconf(_SC_NPROCESSORS_ONLN);
}

double now_cpu_us(clockid_t which) {
  timespec t{};
  clock_gettime(which, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// utime + stime of a process and all its threads (/proc/<pid>/stat fields 14 and 15, in clock
// ticks of 10 ms: one slice's reading is coarse, the sum over a run's slices is not biased).
double process_cpu_us(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');  // the command name (field 2) may hold spaces and parentheses
  if (paren == std::string::npos) throw std::runtime_error("cannot read /proc/<pid>/stat");
  std::istringstream fields(text.substr(paren + 1));
  std::string skipped;
  for (int field = 3; field < 14; ++field)
    fields >> skipped;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Where the CPU goes while a measurer runs: this process (every thread: the client's loop, or
// the capacity row's pipelining threads) against the fleet's redis-servers, which share the
// machine's cores with it.
class cpu_meter {
 public:
  struct reading {
    double client_us = 0;
    double servers_us = 0;
    reading& operator+=(const reading& o) {
      client_us += o.client_us;
      servers_us += o.servers_us;
      return *this;
    }
    reading operator-(const reading& o) const {
      return {client_us - o.client_us, servers_us - o.servers_us};
    }
  };
  explicit cpu_meter(std::vector<pid_t> servers) : servers_(std::move(servers)) {}
  reading now() const {
    reading r;
    r.client_us = now_cpu_us(CLOCK_PROCESS_CPUTIME_ID);
    for (pid_t pid : servers_)
      r.servers_us += process_cpu_us(pid);
    return r;
  }

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
  void run(clock_type::duration slice, bool record) {
    recording_ = record;
    std::optional<cpu_meter::reading> cpu_before;
    if (record && cpu) cpu_before = cpu->now();
    auto start = clock_type::now();
    run_for(slice);
    if (record) measured_ += clock_type::now() - start;
    if (cpu_before) cpu_used_ += cpu->now() - *cpu_before;
  }
  bool tls = false;                // the measured client speaks TLS
  bool fencing = false;            // the measured acquires ask for a fencing token
  std::size_t resources = 0;       // multi rows: resources per lock
  const cpu_meter* cpu = nullptr;  // set: the row reports the CPU split
  row summary(double floor_p50_us) const {
    row out;
    out.tls = tls;
    out.fencing = fencing;
    out.resources = resources;
    out.scenario = scenario_;
    out.client = client_;
    out.nodes = nodes_;
    out.fault = fault_;
    out.concurrency = concurrency_;
    out.ops = counted_ops_ > 0 ? counted_ops_ : samples_.size();
    double seconds = std::chrono::duration<double>(measured_).count();
    out.ops_per_s = seconds > 0 ? static_cast<double>(out.ops) / seconds : 0;
    out.p50_us = percentile(samples_, 0.5);
    out.p99_us = percentile(samples_, 0.99);
    out.errors = errors_;
    out.floor_p50_us = floor_p50_us > 0 ? floor_p50_us : out.p50_us;
    out.ratio_to_floor = out.p50_us / out.floor_p50_us;
    if (cpu && out.ops > 0) {
      out.client_cpu_us = cpu_used_.client_us / static_cast<double>(out.ops);
      out.servers_cpu_us = cpu_used_.servers_us / static_cast<double>(out.ops);
      double core_us = seconds * 1e6 * static_cast<double>(cores());
      out.cores_used = (cpu_used_.client_us + cpu_used_.servers_us) / core_us;
    }
    return out;
  }

 protected:
  virtual void run_for(clock_type::duration slice) = 0;
  int concurrency_ = 1;
  void sample(clock_type::duration took) {
    if (recording_) samples_.push_back(micros(took));
  }
  void error() {
    if (recording_) ++errors_;
  }
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

// host and port of a redis:// URL (the bench's own simple needs).
std::pair<std::string, int> host_port(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {host, colon == std::string::npos ? 6379 : std::stoi(rest.substr(colon + 1))};
}

std::vector<redisContext*> connect_all(const std::vector<std::string>& urls) {
  std::vector<redisContext*> out;
  for (const auto& url : urls) {
    auto [host, port] = host_port(url);
    redisContext* c = redisConnect(host.c_str(), port);
    if (c == nullptr || c->err) throw std::runtime_error("cannot connect to " + url);
    out.push_back(c);
  }
  return out;
}

// Polls n sockets until each node answered once: `read(k)` reads from node k when its socket
// is readable and says whether its reply is complete; `at_majority` runs once, at the
// answer that makes a majority. (The floors: what a client with no event loop does.)
void await_answers(std::size_t n, const std::function<int(std::size_t)>& fd_of,
                   const std::function<bool(std::size_t)>& read,
                   const std::function<void()>& at_majority) {
  std::vector<bool> answered(n, false);
  std::size_t answers = 0;
  while (answers < n) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t k = 0; k < n; ++k) {
      if (answered[k]) continue;
      fds.push_back({fd_of(k), POLLIN, 0});
      which.push_back(k);
    }
    if (poll(fds.data(), fds.size(), 5000) <= 0) throw std::runtime_error("floor: no answer");
    for (std::size_t f = 0; f < fds.size(); ++f) {
      if ((fds[f].revents & POLLIN) == 0 || !read(which[f])) continue;
      answered[which[f]] = true;
      if (++answers == n / 2 + 1) at_majority();
    }
  }
}

// The floor: a plain SET round trip to one node with hiredis's blocking API, one at a time
// (nodes = 1); or the same SET to N nodes at once, timed until a majority answered (then the
// rest are drained, untimed): what any client could do at best on this machine, with no event
// loop, deadlines or bookkeeping. With keys_per_lock = K, the command is the library's own
// acquire script (acquire.lua) on K keys instead: the servers' share of a lock on K resources.
class floor_measurer final : public measurer {
 public:
  explicit floor_measurer(const std::vector<std::string>& urls, std::size_t keys_per_lock = 0)
      : measurer("floor",
                 keys_per_lock > 0  ? "script-fanout"
                 : urls.size() == 1 ? "hiredis-sync"
                                    : "hiredis-fanout",
                 urls.size()),
        nodes_(connect_all(urls)) {
    resources = keys_per_lock;
    const redlock::detail::script& s = redlock::detail::acquire_script;
    for (redisContext* c : nodes_) {
      auto* loaded = static_cast<redisReply*>(
          redisCommand(c, "SCRIPT LOAD %b", s.source.data(), s.source.size()));
      if (loaded == nullptr || loaded->type == REDIS_REPLY_ERROR)
        throw std::runtime_error("floor: SCRIPT LOAD failed");
      freeReplyObject(loaded);
    }
  }
  ~floor_measurer() override {
    for (redisContext* c : nodes_)
      redisFree(c);
  }

 private:
  void run_for(clock_type::duration slice) override {
    std::size_t n = nodes_.size();
    auto until = clock_type::now() + slice;
    while (clock_type::now() < until) {
      // Distinct per measurer: the floors share nodes, and a key already there is refused.
      std::string key = "floor:" + std::to_string(nodes_.size()) + ":" + std::to_string(resources) +
                        ":" + std::to_string(next_++);
      std::vector<std::string> args;
      if (resources > 0) {
        args = {"EVALSHA", std::string(redlock::detail::acquire_script.sha1),
                std::to_string(resources)};
        for (std::size_t k = 0; k < resources; ++k)
          args.push_back(key + ":" + std::to_string(k));
        args.insert(args.end(), {"v", "10000"});
      }
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const std::string& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      auto start = clock_type::now();
      for (redisContext* c : nodes_) {
        if (resources > 0) {
          redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
        } else {
          redisAppendCommand(c, "SET %s v NX PX 10000", key.c_str());
        }
        int done = 0;
        while (done == 0) {
          if (redisBufferWrite(c, &done) != REDIS_OK)
            throw std::runtime_error("floor: write failed");
        }
      }
      // Each node answers once; a read may take the whole reply or wait for more bytes.
      await_answers(
          n, [&](std::size_t k) { return nodes_[k]->fd; },
          [&](std::size_t k) {
            redisContext* c = nodes_[k];
            if (redisBufferRead(c) != REDIS_OK) throw std::runtime_error("floor: read failed");
            void* reply = nullptr;
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK || reply == nullptr) return false;
            if (static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR) error();
            freeReplyObject(reply);
            return true;
          },
          [&] { sample(clock_type::now() - start); });
    }
  }

  std::vector<redisContext*> nodes_;
  std::size_t next_ = 0;
};

// The CA of the fleet's TLS servers (--tls).
std::string tls_ca_file;

// The TLS floor (--tls): the floor's SET over blocking sockets with OpenSSL reading and
// writing them directly (socket BIOs), one at a time (nodes = 1) or to N nodes at once,
// timed until a majority answered. What any TLS client could do at best here: the part of
// the TLS rows' cost that is the servers' and the kernel's, not our memory BIOs and loop.
class tls_floor_measurer final : public measurer {
 public:
  explicit tls_floor_measurer(const std::vector<std::string>& urls)
      : measurer("floor", urls.size() == 1 ? "openssl-sync" : "openssl-fanout", urls.size()) {
    tls = true;
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr || SSL_CTX_load_verify_locations(ctx_, tls_ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error("tls floor: cannot load the fleet's CA " + tls_ca_file);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    for (const auto& url : urls)
      connect(url);
  }
  ~tls_floor_measurer() override {
    for (auto& c : nodes_) {
      SSL_free(c.ssl);
      close(c.fd);
    }
    SSL_CTX_free(ctx_);
  }

 private:
  struct connection {
    int fd = -1;
    SSL* ssl = nullptr;
  };

  void connect(const std::string& url) {
    auto [host, port] = host_port(url);
    connection c;
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("tls floor: cannot connect to " + url);
    c.ssl = SSL_new(ctx_);
    SSL_set_fd(c.ssl, c.fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), host.c_str());
    nodes_.push_back(c);
    if (SSL_connect(c.ssl) != 1) throw std::runtime_error("tls floor: handshake with " + url);
  }

  void run_for(clock_type::duration slice) override {
    std::size_t n = nodes_.size();
    auto until = clock_type::now() + slice;
    char buf[512];
    while (clock_type::now() < until) {
      std::string key = "tlsfloor:" + std::to_string(next_++);
      std::string cmd = "*6\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key +
                        "\r\n$1\r\nv\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n10000\r\n";
      auto start = clock_type::now();
      for (auto& c : nodes_) {
        if (SSL_write(c.ssl, cmd.data(), static_cast<int>(cmd.size())) <= 0)
          throw std::runtime_error("tls floor: write failed");
      }
      // Each reply ("+OK" or "$-1") is one short record: one read takes it whole.
      await_answers(
          n, [&](std::size_t k) { return nodes_[k].fd; },
          [&](std::size_t k) {
            int got = SSL_read(nodes_[k].ssl, buf, sizeof buf);
            if (got <= 0) throw std::runtime_error("tls floor: read failed");
            if (buf[0] == '-') error();
            return true;
          },
          [&] { sample(clock_type::now() - start); });
    }
  }

  SSL_CTX* ctx_ = nullptr;
  std::vector<connection> nodes_;
  std::size_t next_ = 0;
};

redlock::client_options client_options_for(const std::vector<std::string>& urls) {
  redlock::client_options c;
  c.endpoints = urls;
  c.node_timeout = milliseconds(50);
  c.tls.ca_file = tls_ca_file;
  return c;
}

// An async client on a loop of its own. Destroying it closes the client and runs the loop
// until every handle is closed.
class loop_client {
 public:
  explicit loop_client(const redlock::client_options& options) {
    uv_loop_init(&loop_);
    auto made = redlock::async_client::create(&loop_, options);
    if (!made) {
      uv_loop_close(&loop_);
      throw std::runtime_error(made.message());
    }
    client_.emplace(std::move(*made));
  }
  loop_client(const loop_client&) = delete;
  loop_client& operator=(const loop_client&) = delete;
  ~loop_client() {
    client_.reset();
    run();
    uv_loop_close(&loop_);
  }
  redlock::async_client* operator->() { return &*client_; }
  // Runs the loop until nothing is in flight and no lock is held.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // One loop iteration (waiting for I/O if there is none); false once nothing keeps it alive.
  bool run_once() { return uv_run(&loop_, UV_RUN_ONCE) != 0; }
  // Runs the loop for `d` (held leases keep it alive meanwhile).
  void run_for(milliseconds d) {
    uv_timer_t stop;
    uv_timer_init(&loop_, &stop);
    uv_timer_start(
        &stop, [](uv_timer_t* t) { uv_stop(t->loop); }, static_cast<std::uint64_t>(d.count()), 0);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);  // the close
  }

 private:
  uv_loop_t loop_;
  std::optional<redlock::async_client> client_;
};

// One caller, acquire then release on distinct keys, on the async client: the engine's own
// latency, without a thread hand-off. Only the acquire is timed; with time_failures, a failed
// acquire is timed too (the time to fail) and counted as an error. With lock_all(k), each lock
// is one acquire_all of k resources.
class async_latency_measurer final : public measurer {
 public:
  explicit async_latency_measurer(const std::vector<std::string>& urls,
                                  std::string scenario = "latency", std::string fault = "healthy",
                                  bool time_failures = false, bool fenced = false)
      : measurer(scenario, "async_client", urls.size(), fault),
        client_(client_options_for(urls)),
        prefix_(scenario + ":" + fault + (fenced ? ":fenced:" : ":")),
        time_failures_(time_failures) {
    fencing = fenced;
    acquire_.fencing = fenced;
  }

  void lock_all(std::size_t k) { resources = k; }

  // Times one acquire (and its release), outside the samples.
  double one_us() {
    until_ = clock_type::now() + std::chrono::hours(1);
    remaining_ = 1;
    auto start = clock_type::now();
    next();
    client_.run();
    remaining_ = -1;
    return micros(last_ - start);
  }

 private:
  void run_for(clock_type::duration slice) override {
    until_ = clock_type::now() + slice;
    next();
    client_.run();  // returns once the last release is done
  }
  void next() {
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

  loop_client client_;
  std::string prefix_;
  bool time_failures_;
  redlock::acquire_options acquire_;
  clock_type::time_point until_;
  clock_type::time_point last_;  // when the last acquire finished
  int remaining_ = -1;           // acquires left to start; -1: until `until_`
  std::size_t next_ = 0;
};

// Failover: a fleet of five of its own; each fault is applied to real processes (SIGKILL,
// SIGSTOP), measured with a fresh async client, then lifted. Rows run one after the other,
// each against the healthy row of the same fleet.
std::vector<row> measure_failover(const options& o, double floor_p50_us) {
  redlock::testing::redis_fleet fleet(5);
  // In slow1, node 4 is reached through a fault proxy that makes it slower than node_timeout
  // (50 ms): 40 ms each way. The other rows connect directly (the proxy's own thread would
  // take CPU from the servers).
  redlock::testing::fault_proxy proxy(fleet.port(4));
  std::vector<std::string> proxied = fleet.urls();
  proxied[4] = proxy.url();
  struct fault {
    const char* name;
    std::vector<std::size_t> killed;
    std::vector<std::size_t> paused;
    bool slow;   // node 4 answers after 80 ms
    bool fails;  // every acquire fails: p50 is the time to fail
  };
  const fault faults[] = {
      {"healthy", {}, {}, false, false},       {"killed1", {4}, {}, false, false},
      {"paused1", {}, {4}, false, false},      {"paused2", {}, {3, 4}, false, false},
      {"slow1", {}, {}, true, false},          {"down3", {2, 3, 4}, {}, false, true},
      {"paused3", {}, {2, 3, 4}, false, true},
  };
  std::vector<row> rows;
  double healthy_p50 = 0;
  for (const fault& f : faults) {
    {
      async_latency_measurer m(f.slow ? proxied : fleet.urls(), "failover", f.name, f.fails);
      m.run(std::chrono::milliseconds(200), false);  // warm, healthy connections
      for (std::size_t k : f.killed)
        fleet.kill(k);
      for (std::size_t k : f.paused)
        fleet.pause(k);
      if (f.slow) proxy.delay(std::chrono::milliseconds(40));
      double first = m.one_us();
      m.run(std::chrono::duration_cast<clock_type::duration>(
                std::chrono::duration<double>(o.seconds)),
            true);
      rows.push_back(m.summary(floor_p50_us));
      rows.back().first_us = first;
    }
    if (healthy_p50 == 0) healthy_p50 = rows.back().p50_us;
    rows.back().ratio_to_healthy = rows.back().p50_us / healthy_p50;
    proxy.pass();
    for (std::size_t k : f.paused)
      fleet.resume(k);
    for (std::size_t k : f.killed)
      fleet.restart(k);
  }
  return rows;
}

// What the servers can execute: pipelined SETs (batches of 256) with one thread and one
// blocking connection per node, so that no node waits for another node's replies or for one
// client thread. ops counts SETs. Here the pipelining threads share the cores with the
// servers, so the SET/s reached is below what the servers could do alone; main() therefore
// derives the servers' capacity from their CPU per SET (the cpu_meter): cores / CPU per SET.
class capacity_measurer final : public measurer {
 public:
  explicit capacity_measurer(const std::vector<std::string>& urls)
      : measurer("floor", "hiredis-pipelined", urls.size()), nodes_(connect_all(urls)) {
    concurrency_ = batch;
  }
  ~capacity_measurer() override {
    for (redisContext* c : nodes_)
      redisFree(c);
  }

 private:
  static constexpr int batch = 256;
  void run_for(clock_type::duration slice) override {
    auto until = clock_type::now() + slice;
    std::vector<std::size_t> sets(nodes_.size(), 0);
    std::vector<std::exception_ptr> failures(nodes_.size());
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      threads.emplace_back([&, k] {
        try {
          sets[k] = pipeline_until(nodes_[k], until);
        } catch (...) {
          failures[k] = std::current_exception();
        }
      });
    }
    for (std::thread& t : threads)
      t.join();
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      if (failures[k]) std::rethrow_exception(failures[k]);
      count_ops(sets[k]);
    }
  }
  // Batches of SETs to one node until `until`; returns how many were answered.
  static std::size_t pipeline_until(redisContext* c, clock_type::time_point until) {
    std::size_t sets = 0;
    while (clock_type::now() < until) {
      for (int k = 0; k < batch; ++k)
        redisAppendCommand(c, "SET capacity:%d v PX 10000", k);
      for (int k = 0; k < batch; ++k) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("capacity: read failed");
        freeReplyObject(reply);
      }
      sets += batch;
    }
    return sets;
  }

  std::vector<redisContext*> nodes_;
};

// Throughput: one async client, `concurrency` acquire+release chains in flight on distinct
// keys; ops counts lock+unlock pairs. The acquire latency under that load is sampled too.
redlock::client_options throughput_options(const std::vector<std::string>& urls) {
  redlock::client_options options = client_options_for(urls);
  options.node_timeout = milliseconds(1000);  // queues get long at 256 in flight
  return options;
}

class throughput_measurer final : public measurer {
 public:
  throughput_measurer(const std::vector<std::string>& urls, int concurrency)
      : measurer("throughput", "async_client", urls.size()), client_(throughput_options(urls)) {
    concurrency_ = concurrency;
  }

 private:
  void run_for(clock_type::duration slice) override {
    until_ = clock_type::now() + slice;
    for (int c = 0; c < concurrency_; ++c)
      chain(c);
    client_.run();  // returns once every chain has stopped
  }
  void chain(int lane) {
    if (clock_type::now() >= until_) return;
    auto start = clock_type::now();
    std::string key = "throughput:" + std::to_string(concurrency_) + ":" + std::to_string(lane) +
                      ":" + std::to_string(next_++);
    auto started =
        client_->acquire(key, {}, [this, lane, start](redlock::result<redlock::lease> r) {
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

  loop_client client_;
  clock_type::time_point until_;
  std::size_t next_ = 0;
};

// This process's resident memory (/proc/self/statm: size, then resident pages).
std::size_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Bursts: B acquires issued at once on distinct keys on one async client (the default
// options), then the loop runs until every callback came. Without a wait budget the requests
// beyond a node's window are refused at once (errc::overloaded); with one they queue for room.
// Each row: granted (ops), overloaded, other errors, the time to drain, the time to each grant
// (p50, p99) and the peak growth of resident memory per request while draining.
class burst_measurer {
 public:
  explicit burst_measurer(const std::vector<std::string>& urls)
      : client_(client_options_for(urls)), nodes_(urls.size()) {
    // Connected first: the bursts measure the queue, not the handshakes.
    std::optional<redlock::result<void>> ready;
    auto started = client_->wait_ready(
        std::chrono::seconds(10), [&](redlock::result<void> r) { ready.emplace(std::move(r)); });
    if (!started) throw std::runtime_error(started.message());
    client_.run();
    if (!ready || !*ready) throw std::runtime_error("burst: the nodes are not ready");
  }

  row run(std::size_t burst, milliseconds wait) {
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
    std::string prefix =
        "burst:" + std::to_string(wait.count()) + ":" + std::to_string(burst) + ":";
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

 private:
  // What a burst's callbacks collected.
  struct outcome {
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

  // Releases every lease, at most a node's window (512) at a time, and runs the loop
  // until all are done, so that the next burst starts on an idle client and fleet. Released
  // all at once, they would queue past their budget (connect_timeout) and be owed, and the
  // owed releases would then compete with the next burst.
  // Returns how many releases failed; the first failure's message goes to `first_error` if
  // that is still empty.
  std::size_t release_all(std::vector<redlock::lease> leases, std::string& first_error) {
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

  // The requests a client has in flight to one node at most (lib/node/node.cpp); more wait for
  // room within their budget.
  static constexpr std::size_t node_window = 512;
  loop_client client_;
  std::size_t nodes_;
};

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

// Keepalive: one async client acquires `leases` leases with ttl 10 s and auto-extension (the
// default extend_at 0.5: each is extended about every 5 s), then keeps them alive for
// `window` while nothing else runs, with the given node_timeout. Measured over the window only:
// this process's CPU (getrusage: the client is the only work in it then; the loop sleeps between
// batches, so no idle baseline is subtracted), the script calls each server served (INFO
// commandstats), per extension period; and, after the acquires, resident memory growth per lease
// held.
row measure_keepalive(const std::vector<std::string>& urls, std::size_t leases, milliseconds window,
                      milliseconds node_timeout) {
  const milliseconds ttl(10000);
  redlock::client_options client_options = client_options_for(urls);
  client_options.node_timeout = node_timeout;
  loop_client client(client_options);
  std::optional<redlock::result<void>> ready;
  auto started = client->wait_ready(std::chrono::seconds(10),
                                    [&](redlock::result<void> r) { ready.emplace(std::move(r)); });
  if (!started) throw std::runtime_error(started.message());
  client.run();
  if (!ready || !*ready) throw std::runtime_error("keepalive: the nodes are not ready");

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

// Contention: W async clients (one loop) take turns on one resource, each holding it for
// 1 ms, waiting by notification while it is busy (the default retry delay, 50-100 ms, is the
// fallback). ops counts acquisitions; the samples are the hand-off latency (from one owner's
// release to the next owner's grant); fairness is Jain's index over the clients'
// acquisitions (1.0: all equal); commands_per_grant counts every request the clients sent
// to the nodes (SETs, releases, clean-ups) per acquisition, from the moment every client is
// connected to every node (the handshakes, about ten requests per connection, are not
// contention: at W = 64 they alone came to several commands per grant).
row measure_contention(const std::vector<std::string>& urls, int clients, double seconds) {
  struct contender {
    std::optional<redlock::async_client> client;
    uv_timer_t hold;  // the 1 ms the lock is held
    std::optional<redlock::lease> held;
    std::size_t wins = 0;
  };
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<double> handoffs;
  std::size_t errors = 0;
  std::optional<clock_type::time_point> released_at;
  clock_type::time_point until;
  std::vector<std::unique_ptr<contender>> all;
  std::function<void(contender&)> take = [&](contender& c) {
    if (clock_type::now() >= until) return;
    redlock::acquire_options wait;
    wait.ttl = milliseconds(5000);
    wait.wait = milliseconds(10000);
    auto started = c.client->acquire("contended", wait, [&](redlock::result<redlock::lease> r) {
      if (!r) {
        ++errors;
        take(c);
        return;
      }
      if (released_at) handoffs.push_back(micros(clock_type::now() - *released_at));
      ++c.wins;
      c.held.emplace(std::move(*r));
      uv_timer_start(
          &c.hold,
          [](uv_timer_t* t) {
            auto* self = static_cast<std::function<void()>*>(t->data);
            (*self)();
          },
          1, 0);
    });
    if (!started) throw std::runtime_error(started.message());
  };
  std::vector<std::function<void()>> on_hold_end(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    auto c = std::make_unique<contender>();
    redlock::client_options o = client_options_for(urls);
    auto made = redlock::async_client::create(&loop, o);
    if (!made) throw std::runtime_error(made.message());
    c->client.emplace(std::move(*made));
    uv_timer_init(&loop, &c->hold);
    contender* raw = c.get();
    on_hold_end[static_cast<std::size_t>(i)] = [&, raw] {
      (void)raw->client->release(std::move(*raw->held), [&, raw](redlock::result<void> done) {
        if (!done) ++errors;
        released_at = clock_type::now();
        take(*raw);
      });
      raw->held.reset();
    };
    c->hold.data = &on_hold_end[static_cast<std::size_t>(i)];
    all.push_back(std::move(c));
  }
  // Every client connected to every node (or 10 s) before the clock starts.
  auto requests_sent = [&](bool* all_connected) {
    std::uint64_t sent = 0;
    *all_connected = true;
    for (auto& c : all) {
      if (auto h = c->client->health()) {
        for (const redlock::node_health& n : *h) {
          sent += n.requests;
          *all_connected = *all_connected && n.state == redlock::node_state::connected;
        }
      }
    }
    return sent;
  };
  uv_timer_t tick;
  uv_timer_init(&loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 1, 1);
  bool connected = false;
  std::uint64_t handshakes = requests_sent(&connected);
  for (auto give_up = clock_type::now() + std::chrono::seconds(10);
       !connected && clock_type::now() < give_up;) {
    uv_run(&loop, UV_RUN_ONCE);
    handshakes = requests_sent(&connected);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  until = clock_type::now() +
          std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  for (auto& c : all)
    take(*c);
  uv_run(&loop, UV_RUN_DEFAULT);
  std::vector<std::size_t> wins;
  std::uint64_t requests = requests_sent(&connected) - handshakes;
  for (auto& c : all) {
    wins.push_back(c->wins);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->hold), nullptr);
    c->client.reset();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  row r;
  r.scenario = "contention";
  r.client = "async_client";
  r.nodes = urls.size();
  r.concurrency = clients;
  for (std::size_t w : wins)
    r.ops += w;
  r.ops_per_s = static_cast<double>(r.ops) / seconds;
  r.p50_us = percentile(handoffs, 0.5);
  r.p99_us = percentile(handoffs, 0.99);
  r.errors = errors;
  double sum = 0;
  double squares = 0;
  for (std::size_t w : wins) {
    sum += static_cast<double>(w);
    squares += static_cast<double>(w) * static_cast<double>(w);
  }
  r.fairness = squares > 0 ? sum * sum / (static_cast<double>(clients) * squares) : 0;
  r.commands_per_grant = r.ops > 0 ? static_cast<double>(requests) / static_cast<double>(r.ops) : 0;
  return r;
}

// Timeline: one async client locking and unlocking without pause for 6 s on a fleet of five,
// while node 0 is paused from 1.5 s to 3 s and node 1 is killed at 4 s and restarted at
// 4.5 s. Reported in 50 ms windows (p50, p99, errors), and as a `restart` row for the gap.
struct timeline_point {
  double t_ms;
  double p50_us;
  double p99_us;
  std::size_t ops;
  std::size_t errors;
};

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

// The same with the blocking client: adds the hand-off to and from the client's loop thread.
class blocking_latency_measurer final : public measurer {
 public:
  explicit blocking_latency_measurer(const std::vector<std::string>& urls)
      : measurer("latency", "client", urls.size()) {
    auto made = redlock::client::create(client_options_for(urls));
    if (!made) throw std::runtime_error(made.message());
    client_.emplace(std::move(*made));
  }

 private:
  void run_for(clock_type::duration slice) override {
    auto until = clock_type::now() + slice;
    while (clock_type::now() < until) {
      auto start = clock_type::now();
      redlock::result<redlock::lease> r = client_->acquire("latency:" + std::to_string(next_++));
      auto took = clock_type::now() - start;
      if (!r) {
        error();
        continue;
      }
      sample(took);
      if (!r->release()) error();
    }
  }

  std::optional<redlock::client> client_;
  std::size_t next_ = 0;
};

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
      << cpu << "\", \"cores\": " << cores() << "}";
  return out.str();
}

// The fields of one JSON object, in the order added.
class json_object {
 public:
  json_object& add(const char* name, const std::string& text) {
    std::string quoted = "\"";
    for (char c : text) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return raw(name, quoted + "\"");
  }
  json_object& add(const char* name, double value, const char* format = "%.1f") {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return raw(name, buf);
  }
  json_object& add(const char* name, std::size_t value) { return raw(name, std::to_string(value)); }
  json_object& add(const char* name, int value) { return raw(name, std::to_string(value)); }
  json_object& add(const char* name, bool value) { return raw(name, value ? "true" : "false"); }
  std::string text() const { return "{" + fields_ + "}"; }

 private:
  json_object& raw(const char* name, const std::string& value) {
    if (!fields_.empty()) fields_ += ", ";
    fields_ += "\"" + std::string(name) + "\": " + value;
    return *this;
  }
  std::string fields_;
};

void write_json(const std::string& path, const std::vector<row>& rows,
                const std::vector<timeline_point>& timeline) {
  std::ofstream out(path);
  out << "{\"machine\": " << machine_json() << ",\n \"timeline\": [";
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const timeline_point& p = timeline[i];
    char buf[160];
    std::snprintf(
        buf, sizeof buf,
        "%s\n  {\"t_ms\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"ops\": %zu, \"errors\": %zu}",
        i == 0 ? "" : ",", p.t_ms, p.p50_us, p.p99_us, p.ops, p.errors);
    out << buf;
  }
  out << "],\n \"timeline_events\": [";
  if (!timeline.empty()) {
    out << "{\"t_ms\": 1500, \"event\": \"node 0 paused\"}, {\"t_ms\": 3000, \"event\": \"node 0 "
           "resumed\"}, "
           "{\"t_ms\": 4000, \"event\": \"node 1 killed\"}, {\"t_ms\": 4500, \"event\": \"node 1 "
           "restarted\"}";
  }
  out << "],\n \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    json_object o;
    o.add("scenario", r.scenario).add("client", r.client).add("nodes", r.nodes);
    o.add("fault", r.fault).add("concurrency", r.concurrency).add("ops", r.ops);
    o.add("ops_per_s", r.ops_per_s).add("p50_us", r.p50_us).add("p99_us", r.p99_us);
    o.add("errors", r.errors).add("floor_p50_us", r.floor_p50_us);
    o.add("ratio_to_floor", r.ratio_to_floor, "%.3f")
        .add("ratio_to_healthy", r.ratio_to_healthy, "%.3f");
    o.add("first_us", r.first_us).add("fairness", r.fairness, "%.3f").add("tls", r.tls);
    o.add("commands_per_grant", r.commands_per_grant, "%.2f");
    o.add("client_cpu_us", r.client_cpu_us, "%.2f").add("servers_cpu_us", r.servers_cpu_us, "%.2f");
    o.add("cores_used", r.cores_used, "%.3f").add("capacity_per_s", r.capacity_per_s);
    o.add("overloaded", r.overloaded).add("success_rate", r.success_rate, "%.4f");
    o.add("issue_ms", r.issue_ms).add("drain_ms", r.drain_ms);
    o.add("bytes_per_request", r.bytes_per_request, "%.0f").add("release_errors", r.release_errors);
    o.add("first_error", r.first_error);
    o.add("fencing", r.fencing).add("ratio_to_unfenced", r.ratio_to_unfenced, "%.3f");
    o.add("resources", r.resources).add("ratio_to_script_floor", r.ratio_to_script_floor, "%.3f");
    o.add("leases", r.leases).add("client_cpu_fraction", r.client_cpu_fraction, "%.4f");
    o.add("commands_per_period_per_node", r.commands_per_period_per_node, "%.1f");
    o.add("bytes_per_lease", r.bytes_per_lease, "%.0f").add("extends_failed", r.extends_failed);
    out << "  " << o.text() << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  out << " ]}\n";
}

void print_row(const row& r) {
  std::string client = r.client + (r.tls ? " tls" : "") + (r.fencing ? " fence" : "");
  std::printf("%-9s %-14s %5zu %-8s %11d %9zu %11.0f %9.1f %9.1f %6zu", r.scenario.c_str(),
              client.c_str(), r.nodes, r.fault.c_str(), r.concurrency, r.ops, r.ops_per_s, r.p50_us,
              r.p99_us, r.errors);
  if (r.ratio_to_floor > 0) {
    std::printf(" %8.2fx", r.ratio_to_floor);
  } else {
    std::printf(" %9s", "");  // burst rows: no floor to compare with
  }
  if (r.fairness >= 0) std::printf("  fairness %.3f", r.fairness);
  if (r.commands_per_grant >= 0) std::printf("  commands/grant %.1f", r.commands_per_grant);
  if (r.capacity_per_s > 0) std::printf("  servers' capacity %.0f SET/s", r.capacity_per_s);
  if (r.cores_used >= 0) {
    std::printf("  cpu/op: client %.1f us, servers %.1f us, %.0f%% of %ld cores", r.client_cpu_us,
                r.servers_cpu_us, r.cores_used * 100, cores());
  }
  if (r.success_rate >= 0) {
    std::printf(
        "  granted %.1f%%, overloaded %zu, issued in %.0f ms, drained in %.0f ms, %.0f B/request",
        r.success_rate * 100, r.overloaded, r.issue_ms, r.drain_ms, r.bytes_per_request);
    if (r.release_errors > 0) std::printf(", %zu releases failed", r.release_errors);
    if (!r.first_error.empty()) std::printf(" (first: %s)", r.first_error.c_str());
  }
  if (r.ratio_to_unfenced > 0) std::printf(" %5.2fx unfenced", r.ratio_to_unfenced);
  if (r.resources > 0) std::printf("  %zu keys", r.resources);
  if (r.ratio_to_script_floor > 0) std::printf(" %5.2fx script floor", r.ratio_to_script_floor);
  if (r.client_cpu_fraction >= 0) {
    std::printf(
        "  %zu leases: client cpu %.2f%% of a core, %.1f script calls/period/node, %.0f B/lease",
        r.leases, r.client_cpu_fraction * 100, r.commands_per_period_per_node, r.bytes_per_lease);
    std::printf(", %zu extensions, %zu failed", r.ops, r.extends_failed);
    if (!r.first_error.empty()) std::printf(" (first error: %s)", r.first_error.c_str());
  }
  if (r.ratio_to_healthy > 0) {
    std::printf(" %5.2fx healthy, first after the fault: %.0f us", r.ratio_to_healthy, r.first_us);
  }
  std::printf("\n");
  std::fflush(stdout);
}

// The SET/s the servers would execute with every core to themselves: cores / their CPU per
// SET, measured while the pipelining threads ran. Without the CPU split (--servers, whose
// pids are unknown) the SET/s reached is all there is.
double servers_capacity(const row& pipelined) {
  if (pipelined.servers_cpu_us <= 0) return pipelined.ops_per_s;
  return static_cast<double>(cores()) * 1e6 / pipelined.servers_cpu_us;
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(
      stderr,
      "redlock-bench: %s\n"
      "usage: redlock-bench [--nodes N | --servers URL,URL,...]\n"
      "                     [--scenario floor|latency|throughput|failover|contention|burst|\n"
      "                                 keepalive|multi|all]\n"
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
          o.scenario != "keepalive" && o.scenario != "multi" && o.scenario != "all") {
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

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  try {
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
      if (o.tls) {
        measurers.push_back(
            std::make_unique<throughput_measurer>(tls_first(throughput_nodes), 256));
        measurers.back()->tls = true;
      }
      for (std::size_t i = capacity_index; i < measurers.size(); ++i)
        measurers[i]->cpu = throughput_cpu ? &*throughput_cpu : nullptr;
    }

    // A warm-up slice each, then interleaved slices of 100 ms until each had o.seconds.
    const auto slice = std::chrono::milliseconds(100);
    for (auto& m : measurers)
      m->run(slice, false);
    auto rounds = static_cast<int>(std::max(1.0, o.seconds / 0.1));
    for (int r = 0; r < rounds; ++r) {
      for (auto& m : measurers)
        m->run(slice, true);
    }

    std::printf("%-9s %-14s %5s %-8s %11s %9s %11s %9s %9s %6s %9s\n", "scenario", "client",
                "nodes", "fault", "concurrency", "ops", "ops/s", "p50 us", "p99 us", "errors",
                "vs floor");
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
      print_row(r);
    }
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
