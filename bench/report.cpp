// The report: the table rows printed as the run goes, and the JSON file written at its end.
#include "report.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace redlock::bench {
namespace {

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

}  // namespace

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
    o.add("nodes_floor_p50_us", r.nodes_floor_p50_us)
        .add("nodes_floor_p99_us", r.nodes_floor_p99_us);
    o.add("ratio_to_nodes_floor", r.ratio_to_nodes_floor, "%.3f")
        .add("p99_ratio_to_nodes_floor", r.p99_ratio_to_nodes_floor, "%.3f");
    o.add("ratio_to_async16", r.ratio_to_async16, "%.3f");
    o.add("ratio_to_floor", r.ratio_to_floor, "%.3f")
        .add("ratio_to_healthy", r.ratio_to_healthy, "%.3f");
    o.add("first_us", r.first_us).add("fairness", r.fairness, "%.3f").add("tls", r.tls);
    o.add("commands_per_grant", r.commands_per_grant, "%.2f");
    o.add("client_cpu_us", r.client_cpu_us, "%.2f").add("servers_cpu_us", r.servers_cpu_us, "%.2f");
    o.add("cores_used", r.cores_used, "%.3f").add("capacity_per_s", r.capacity_per_s);
    o.add("client_switches", r.client_switches, "%.2f");
    o.add("overloaded", r.overloaded).add("success_rate", r.success_rate, "%.4f");
    o.add("issue_ms", r.issue_ms).add("drain_ms", r.drain_ms);
    o.add("bytes_per_request", r.bytes_per_request, "%.0f").add("release_errors", r.release_errors);
    o.add("first_error", r.first_error);
    o.add("fencing", r.fencing).add("ratio_to_unfenced", r.ratio_to_unfenced, "%.3f");
    o.add("resources", r.resources).add("ratio_to_script_floor", r.ratio_to_script_floor, "%.3f");
    o.add("leases", r.leases).add("client_cpu_fraction", r.client_cpu_fraction, "%.4f");
    o.add("commands_per_period_per_node", r.commands_per_period_per_node, "%.1f");
    o.add("bytes_per_lease", r.bytes_per_lease, "%.0f").add("extends_failed", r.extends_failed);
    o.add("replica_acks", r.replica_acks).add("ratio_to_unacked", r.ratio_to_unacked, "%.3f");
    o.add("sentinel_switch_ms", r.sentinel_switch_ms).add("health_back_ms", r.health_back_ms);
    o.add("vote_back_ms", r.vote_back_ms);
    out << "  " << o.text() << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  out << " ]}\n";
}

void print_header() {
  std::printf("%-9s %-14s %5s %-8s %11s %9s %11s %9s %9s %6s %9s\n", "scenario", "client", "nodes",
              "fault", "concurrency", "ops", "ops/s", "p50 us", "p99 us", "errors", "vs floor");
}

void print_row(const row& r) {
  std::string client = r.client + (r.tls ? " tls" : "") + (r.fencing ? " fence" : "") +
                       (r.replica_acks > 0 ? " ack" + std::to_string(r.replica_acks) : "");
  std::printf("%-9s %-14s %5zu %-8s %11d %9zu %11.0f %9.1f %9.1f %6zu", r.scenario.c_str(),
              client.c_str(), r.nodes, r.fault.c_str(), r.concurrency, r.ops, r.ops_per_s, r.p50_us,
              r.p99_us, r.errors);
  if (r.ratio_to_floor > 0) {
    std::printf(" %8.2fx", r.ratio_to_floor);
  } else {
    std::printf(" %9s", "");  // burst rows: no floor to compare with
  }
  if (r.ratio_to_nodes_floor > 0) {
    std::printf("  N-floor %.1f/%.1f us: p50 %.2fx, p99 %.2fx", r.nodes_floor_p50_us,
                r.nodes_floor_p99_us, r.ratio_to_nodes_floor, r.p99_ratio_to_nodes_floor);
  }
  if (r.ratio_to_async16 > 0) std::printf("  %.2fx async_client 16", r.ratio_to_async16);
  if (r.fairness >= 0) std::printf("  fairness %.3f", r.fairness);
  if (r.commands_per_grant >= 0) std::printf("  commands/grant %.1f", r.commands_per_grant);
  if (r.capacity_per_s > 0) std::printf("  servers' capacity %.0f SET/s", r.capacity_per_s);
  if (r.cores_used >= 0) {
    std::printf("  cpu/op: client %.1f us, servers %.1f us, %.0f%% of %ld cores", r.client_cpu_us,
                r.servers_cpu_us, r.cores_used * 100, cores());
    if (r.client_switches >= 0) std::printf(", client context switches/op %.1f", r.client_switches);
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
  if (r.ratio_to_unacked > 0) std::printf(" %5.2fx unacked", r.ratio_to_unacked);
  if (r.sentinel_switch_ms >= 0 || r.vote_back_ms >= 0) {
    auto ms = [](double v) { return v >= 0 ? std::to_string(static_cast<long>(v)) : "-"; };
    std::printf("  after the kill (ms): sentinels switched %s, health back %s, vote back %s",
                ms(r.sentinel_switch_ms).c_str(), ms(r.health_back_ms).c_str(),
                ms(r.vote_back_ms).c_str());
    if (r.sentinel_switch_ms >= 0 && r.vote_back_ms >= 0)
      std::printf(" (client's share %.0f)", r.vote_back_ms - r.sentinel_switch_ms);
  }
  if (r.ratio_to_healthy > 0) {
    std::printf(" %5.2fx healthy, first after the fault: %.0f us", r.ratio_to_healthy, r.first_us);
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace redlock::bench
