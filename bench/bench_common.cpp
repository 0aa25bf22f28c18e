// The shared helpers of redlock-bench: statistics, CPU and memory readings, the measurer base
// class, connections to the nodes and the async client on a loop of its own.
#include "bench_common.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace redlock::bench {
namespace {

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

}  // namespace

std::string tls_ca_file;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

long cores() {
  return sysconf(_SC_NPROCESSORS_ONLN);
}

std::size_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

cpu_meter::reading cpu_meter::now() const {
  reading r;
  r.client_us = now_cpu_us(CLOCK_PROCESS_CPUTIME_ID);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  r.client_switches = static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw);
  for (pid_t pid : servers_)
    r.servers_us += process_cpu_us(pid);
  return r;
}

void measurer::run(clock_type::duration slice, bool record) {
  recording_ = record;
  std::optional<cpu_meter::reading> cpu_before;
  if (record && cpu) cpu_before = cpu->now();
  auto start = clock_type::now();
  run_for(slice);
  if (record) measured_ += clock_type::now() - start;
  if (cpu_before) cpu_used_ += cpu->now() - *cpu_before;
}

void measurer::time_acquire_then_release(redlock::client& locks, const std::string& key,
                                         clock_type::time_point start) {
  redlock::result<redlock::lease> held = locks.acquire(key);
  auto took = clock_type::now() - start;
  if (!held) {
    error();
    return;
  }
  sample(took);
  if (!held->release()) error();
}

row measurer::summary(double floor_p50_us) const {
  row out;
  out.tls = tls;
  out.fencing = fencing;
  out.resources = resources;
  out.replica_acks = replica_acks;
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
    out.client_switches = cpu_used_.client_switches / static_cast<double>(out.ops);
    double core_us = seconds * 1e6 * static_cast<double>(cores());
    out.cores_used = (cpu_used_.client_us + cpu_used_.servers_us) / core_us;
  }
  return out;
}

void run_interleaved(const std::vector<std::unique_ptr<measurer>>& measurers, double seconds) {
  const auto slice = std::chrono::milliseconds(100);
  for (const auto& m : measurers)
    m->run(slice, false);
  auto rounds = static_cast<int>(std::max(1.0, seconds / 0.1));
  for (int r = 0; r < rounds; ++r) {
    for (const auto& m : measurers)
      m->run(slice, true);
  }
}

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

redlock::client_options client_options_for(const std::vector<std::string>& urls) {
  redlock::client_options c;
  c.endpoints = urls;
  c.node_timeout = milliseconds(50);
  c.tls.ca_file = tls_ca_file;
  // The bench's servers started a moment ago and never granted a lock to anyone else: the
  // quarantine would only keep them from voting for max_ttl.
  c.quarantine.enabled = false;
  return c;
}

loop_client::loop_client(const redlock::client_options& options) {
  uv_loop_init(&loop_);
  auto made = redlock::async_client::create(&loop_, options);
  if (!made) {
    uv_loop_close(&loop_);
    throw std::runtime_error(made.message());
  }
  client_.emplace(std::move(*made));
}

loop_client::~loop_client() {
  client_.reset();
  run();
  uv_loop_close(&loop_);
}

void loop_client::wait_ready(const char* scenario) {
  std::optional<redlock::result<void>> ready;
  auto started = client_->wait_ready(std::chrono::seconds(10),
                                     [&](redlock::result<void> r) { ready.emplace(std::move(r)); });
  if (!started) throw std::runtime_error(started.message());
  run();
  if (!ready || !*ready)
    throw std::runtime_error(std::string(scenario) + ": the nodes are not ready");
}

void loop_client::run_for(milliseconds d) {
  uv_timer_t stop;
  uv_timer_init(&loop_, &stop);
  uv_timer_start(
      &stop, [](uv_timer_t* t) { uv_stop(t->loop); }, static_cast<std::uint64_t>(d.count()), 0);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // the close
}

}  // namespace redlock::bench
