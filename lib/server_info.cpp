#include <cstdlib>
#include <string>

#include "node_link.hpp"

namespace redlock::detail {

// INFO's text is "# Server\r\nredis_version:7.0.15\r\n...run_id:<40 hex>\r\n...", then the
// other sections (Memory, Replication, Cluster, ...).
server_info parse_server_info(std::string_view info) {
  server_info out;
  auto risk = [&](std::string sentence) { out.key_loss_risks.push_back(std::move(sentence)); };
  while (!info.empty()) {
    std::size_t eol = info.find('\n');
    std::string_view line = info.substr(0, eol);
    info = eol == std::string_view::npos ? std::string_view() : info.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (name == "run_id") {
      out.run_id = std::string(value);
    } else if (name == "master_replid") {
      out.replication_id = std::string(value);
    } else if (name == "maxmemory_policy" && value != "noeviction") {
      risk("maxmemory_policy is " + std::string(value) +
           ": under maxmemory the server evicts keys, ours included, before their ttl");
    } else if (name == "connected_slaves") {
      out.replicas = std::atoi(std::string(value).c_str());
    } else if (name == "aof_enabled") {
      out.aof_enabled = value == "1";
    } else if (name == "role" && (out.role = std::string(value)) != "master") {
      risk("role is " + std::string(value) +
           ": a replica is not an independent master (its keys come from its master)");
    } else if (name == "cluster_enabled" && value == "1") {
      risk(
          "cluster_enabled is 1: Redlock needs independent masters, not the nodes of one "
          "Redis Cluster");
    } else if (name == "redis_version") {
      out.redis_version = std::string(value);
    } else if (name == "uptime_in_seconds") {
      char* end = nullptr;
      std::string text(value);
      long long seconds = std::strtoll(text.c_str(), &end, 10);
      if (end != text.c_str() && *end == '\0' && seconds >= 0) {
        out.uptime = std::chrono::seconds(seconds);
      }
    }
  }
  return out;
}

}  // namespace redlock::detail
