#include "sentinel_fleet.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>

namespace redlock::testing {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often the waits ask again: sentinels change their minds at most every 100 ms or so.
constexpr milliseconds poll_interval{50};

bool live(const redis_fleet& fleet, std::size_t i) {
  return fleet.running(i) && !fleet.paused(i);
}

// RFC 3986 unreserved characters as they are, everything else %XX, so a password survives the
// URL parser.
std::string percent_encoded(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// The entries of SENTINEL replicas / SENTINEL sentinels, by the port each names.
std::map<std::string, std::map<std::string, std::string>> entries_by_port(const reply& r) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const reply& entry : r.elements) {
    auto fields = entry.fields();
    out[fields["port"]] = std::move(fields);
  }
  return out;
}

std::string address(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace

sentinel_fleet::sentinel_fleet(std::size_t groups, sentinel_fleet_options options)
    : options_(std::move(options)) {
  if (groups == 0) {
    throw std::invalid_argument("sentinel_fleet: no groups");
  }
  if (options_.sentinels == 0) {
    throw std::invalid_argument("sentinel_fleet: a group needs at least one sentinel");
  }
  if (!options_.data_nodes.dir.empty()) {
    throw std::invalid_argument(
        "sentinel_fleet: data_nodes.dir is set, but the fleet places the nodes in its own dir");
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  templ += "/redlock-sentinel-fleet-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("sentinel_fleet: mkdtemp " + templ + ": " + std::strerror(errno));
  }
  dir_ = templ;
  try {
    if (options_.data_nodes.tls) certs_ = make_test_certs(dir_ + "/certs");
    groups_.resize(groups);
    // All data nodes first, then all sentinels, then one wait: the groups settle side by side.
    for (std::size_t g = 0; g < groups; ++g) {
      start_group(g);
    }
    for (std::size_t g = 0; g < groups; ++g) {
      start_sentinels(g);
    }
    const auto deadline = steady::now() + options_.settle_timeout;
    for (std::size_t g = 0; g < groups; ++g) {
      wait_settled(
          g, std::max(std::chrono::ceil<milliseconds>(deadline - steady::now()), milliseconds(1)));
    }
  } catch (...) {
    cleanup();  // the destructor does not run for a constructor that throws
    throw;
  }
}

sentinel_fleet::~sentinel_fleet() {
  cleanup();
}

void sentinel_fleet::cleanup() noexcept {
  // Sentinels first, so that none reconfigures a data node that is being stopped.
  for (group& gr : groups_) {
    gr.sentinels.reset();
  }
  for (group& gr : groups_) {
    gr.data.reset();
  }
  groups_.clear();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void sentinel_fleet::start_group(std::size_t g) {
  group& gr = groups_[g];
  gr.name = "group" + std::to_string(g + 1);
  const std::string group_dir = dir_ + "/" + gr.name;
  if (::mkdir(group_dir.c_str(), 0700) != 0) {
    throw std::runtime_error("sentinel_fleet: mkdir " + group_dir + ": " + std::strerror(errno));
  }
  node_options data = options_.data_nodes;
  data.dir = group_dir + "/data";
  if (data.tls) {
    data.tls_certs = certs_;
    data.extra_config.push_back("tls-replication yes");  // replicas reach the TLS port
  }
  // A full sync starts at once instead of after 5 s (waiting for more replicas to share it).
  data.extra_config.push_back("repl-diskless-sync-delay 0");
  const std::string& password = options_.data_nodes.requirepass;
  if (!password.empty()) {
    // Every node, the master too: after a failover the old master replicates from a replica.
    data.extra_config.push_back("masterauth " + conf_quote(password));
  }
  gr.data = std::make_unique<redis_fleet>(1 + options_.replicas, data);
  if (!password.empty()) {
    gr.data->set_auth("", password);
  }
  // REPLICAOF at run time, as a sentinel does it, and saved with CONFIG REWRITE so that a
  // restarted replica is still one.
  const std::string master_port = std::to_string(data_port(g, 0));
  for (std::size_t i = 1; i < gr.data->size(); ++i) {
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"REPLICAOF", "127.0.0.1", master_port},
          std::vector<std::string>{"CONFIG", "REWRITE"}}) {
      const reply r = gr.data->call(i, command);
      if (r.is_error()) {
        throw std::runtime_error("sentinel_fleet: " + command[0] + " on " + gr.name +
                                 " data node " + std::to_string(i) + " failed: " + r.str);
      }
    }
  }
}

void sentinel_fleet::start_sentinels(std::size_t g) {
  group& gr = groups_[g];
  node_options s;
  s.sentinel = true;
  s.dir = dir_ + "/" + gr.name + "/sentinels";
  s.start_timeout = options_.data_nodes.start_timeout;
  s.tls = options_.data_nodes.tls;
  s.tls_certs = certs_;
  s.extra_config = {"sentinel monitor " + gr.name + " 127.0.0.1 " +
                        std::to_string(data_port(g, 0)) + " " + std::to_string(quorum()),
                    "sentinel down-after-milliseconds " + gr.name + " " +
                        std::to_string(options_.down_after.count()),
                    "sentinel failover-timeout " + gr.name + " " +
                        std::to_string(options_.failover_timeout.count()),
                    "sentinel parallel-syncs " + gr.name + " 1"};
  if (!options_.data_nodes.requirepass.empty()) {
    s.extra_config.push_back("sentinel auth-pass " + gr.name + " " +
                             conf_quote(options_.data_nodes.requirepass));
  }
  if (!options_.sentinel_password.empty()) {
    s.requirepass = options_.sentinel_password;
    s.extra_config.push_back("sentinel sentinel-pass " + conf_quote(options_.sentinel_password));
  }
  gr.sentinels = std::make_unique<redis_fleet>(options_.sentinels, s);
  if (!options_.sentinel_password.empty()) gr.sentinels->set_auth("", options_.sentinel_password);
}

const sentinel_fleet::group& sentinel_fleet::at(std::size_t g) const {
  if (g >= groups_.size()) {
    throw std::out_of_range("sentinel_fleet: group " + std::to_string(g) + " of " +
                            std::to_string(groups_.size()));
  }
  return groups_[g];
}

std::string sentinel_fleet::master_name(std::size_t g) const {
  return at(g).name;
}

std::string sentinel_fleet::url(std::size_t g) const {
  const group& gr = at(g);
  std::string out = options_.data_nodes.tls ? "rediss+sentinel://" : "redis+sentinel://";
  if (!options_.data_nodes.requirepass.empty()) {
    out += ":" + percent_encoded(options_.data_nodes.requirepass) + "@";
  }
  for (std::size_t s = 0; s < gr.sentinels->size(); ++s) {
    out += (s > 0 ? "," : "") + address(sentinel_port(g, s));
  }
  return out + "/" + gr.name;
}

std::vector<std::string> sentinel_fleet::urls() const {
  std::vector<std::string> out;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    out.push_back(url(g));
  }
  return out;
}

std::uint16_t sentinel_fleet::data_port(std::size_t g, std::size_t node) const {
  const redis_fleet& data = *at(g).data;
  return options_.data_nodes.tls ? data.tls_port(node) : data.port(node);
}

std::uint16_t sentinel_fleet::sentinel_port(std::size_t g, std::size_t s) const {
  const redis_fleet& sentinels = *at(g).sentinels;
  return options_.data_nodes.tls ? sentinels.tls_port(s) : sentinels.port(s);
}

redis_fleet& sentinel_fleet::data_nodes(std::size_t g) {
  return *at(g).data;
}

const redis_fleet& sentinel_fleet::data_nodes(std::size_t g) const {
  return *at(g).data;
}

redis_fleet& sentinel_fleet::sentinels(std::size_t g) {
  return *at(g).sentinels;
}

const redis_fleet& sentinel_fleet::sentinels(std::size_t g) const {
  return *at(g).sentinels;
}

std::vector<std::uint16_t> sentinel_fleet::reported_master_ports(std::size_t g) const {
  const group& gr = at(g);
  std::vector<std::uint16_t> out(gr.sentinels->size(), 0);
  for (std::size_t s = 0; s < out.size(); ++s) {
    if (!live(*gr.sentinels, s)) {
      continue;
    }
    try {
      const reply r = gr.sentinels->call(s, {"SENTINEL", "get-master-addr-by-name", gr.name});
      if (r.type == reply::kind::array && r.elements.size() == 2) {
        out[s] = static_cast<std::uint16_t>(std::stoul(r.elements[1].str));
      }
    } catch (const transport_error&) {
      // Silent: counts as no answer.
    }
  }
  return out;
}

std::uint16_t sentinel_fleet::master_port(std::size_t g) const {
  std::map<std::uint16_t, std::size_t> votes;
  for (const std::uint16_t port : reported_master_ports(g)) {
    if (port != 0) {
      ++votes[port];
    }
  }
  if (votes.empty()) {
    throw std::runtime_error("sentinel_fleet: no sentinel of " + at(g).name +
                             " answers SENTINEL get-master-addr-by-name");
  }
  return std::max_element(votes.begin(), votes.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

std::size_t sentinel_fleet::node_at_port(std::size_t g, std::uint16_t port) const {
  const redis_fleet& data = *at(g).data;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data_port(g, i) == port) {
      return i;
    }
  }
  throw std::runtime_error("sentinel_fleet: the sentinels of " + at(g).name + " name " +
                           address(port) + ", which is none of the group's data nodes");
}

std::size_t sentinel_fleet::master_node(std::size_t g) const {
  return node_at_port(g, master_port(g));
}

std::size_t sentinel_fleet::replica_node(std::size_t g, std::size_t k) const {
  const std::size_t master = master_node(g);
  const redis_fleet& data = *at(g).data;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (i != master && seen++ == k) {
      return i;
    }
  }
  throw std::out_of_range("sentinel_fleet: replica " + std::to_string(k) + " of " + at(g).name +
                          ", which has " + std::to_string(data.size() - 1));
}

std::string sentinel_fleet::role(std::size_t g, std::size_t node) const {
  return info_field(at(g).data->command(node, {"INFO", "replication"}), "role");
}

bool sentinel_fleet::lists_online(std::size_t g, const std::string& master_info,
                                  std::size_t node) const {
  const std::string listed = "ip=127.0.0.1,port=" + std::to_string(data_port(g, node)) + ",";
  const std::size_t entry = master_info.find(listed);
  return entry != std::string::npos &&
         master_info.compare(entry + listed.size(), 13, "state=online,") == 0;
}

std::size_t sentinel_fleet::kill_master(std::size_t g) {
  const std::size_t master = master_node(g);
  at(g).data->kill(master);
  return master;
}

std::uint16_t sentinel_fleet::wait_for_failover(std::size_t g, std::uint16_t old_master_port,
                                                std::chrono::milliseconds timeout) {
  const group& gr = at(g);
  const auto deadline = steady::now() + timeout;
  for (;;) {
    const std::vector<std::uint16_t> ports = reported_master_ports(g);
    std::map<std::uint16_t, std::size_t> votes;
    for (const std::uint16_t port : ports) {
      if (port != 0 && port != old_master_port) {
        ++votes[port];
      }
    }
    for (const auto& [port, count] : votes) {
      if (count < quorum()) {
        continue;
      }
      try {
        if (role(g, node_at_port(g, port)) == "master") {
          return port;
        }
      } catch (const transport_error&) {
        // The promoted node does not answer (yet): ask again.
      }
    }
    if (steady::now() >= deadline) {
      std::string said;
      for (std::size_t s = 0; s < ports.size(); ++s) {
        said += "; sentinel " + std::to_string(s) + ": " +
                (ports[s] != 0 ? address(ports[s]) : std::string("no answer"));
      }
      throw std::runtime_error(
          "sentinel_fleet: no failover of " + gr.name + " away from " + address(old_master_port) +
          " within " + std::to_string(timeout.count()) + " ms" + said + "\n" + log_tails(g));
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

void sentinel_fleet::wait_settled(std::size_t g, std::chrono::milliseconds timeout) {
  const group& gr = at(g);
  if (timeout.count() <= 0) {
    timeout = options_.settle_timeout;
  }
  const auto deadline = steady::now() + timeout;
  for (;;) {
    const std::string why = unsettled_reason(g);
    if (why.empty()) {
      return;
    }
    if (steady::now() >= deadline) {
      throw std::runtime_error("sentinel_fleet: " + gr.name + " did not settle within " +
                               std::to_string(timeout.count()) + " ms: " + why + "\n" +
                               log_tails(g));
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

std::string sentinel_fleet::log_tails(std::size_t g, std::size_t lines) const {
  const group& gr = at(g);
  std::string out;
  for (const auto& [kind, fleet] :
       {std::pair<const char*, const redis_fleet*>{"sentinel", gr.sentinels.get()},
        {"data node", gr.data.get()}}) {
    for (std::size_t i = 0; i < fleet->size(); ++i) {
      out += "--- " + gr.name + " " + kind + " " + std::to_string(i) + " (" +
             address(fleet->port(i)) + "):\n" + fleet->log_tail(i, lines);
    }
  }
  return out;
}

std::string sentinel_fleet::unsettled_reason(std::size_t g) const {
  const group& gr = at(g);
  const redis_fleet& data = *gr.data;
  const redis_fleet& sentinels = *gr.sentinels;
  try {
    // The sentinels agree on the master, and the master agrees.
    std::uint16_t master_port = 0;
    const std::vector<std::uint16_t> ports = reported_master_ports(g);
    for (std::size_t s = 0; s < ports.size(); ++s) {
      if (!live(sentinels, s)) {
        continue;
      }
      if (ports[s] == 0) {
        return "sentinel " + std::to_string(s) + " names no master";
      }
      if (master_port != 0 && ports[s] != master_port) {
        return "the sentinels name different masters (" + address(master_port) + ", " +
               address(ports[s]) + ")";
      }
      master_port = ports[s];
    }
    if (master_port == 0) {
      return "no sentinel runs";
    }
    const std::size_t master = node_at_port(g, master_port);
    if (!live(data, master)) {
      return "the master, data node " + std::to_string(master) + ", is down or paused";
    }
    const std::string master_info = data.command(master, {"INFO", "replication"});
    if (info_field(master_info, "role") != "master") {
      return "data node " + std::to_string(master) + " is named master but says otherwise";
    }

    // Every other live data node replicates from it, in sync, and the master streams to it.
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (i == master || !live(data, i)) {
        continue;
      }
      if (!lists_online(g, master_info, i)) {
        return "the master does not yet stream to data node " + std::to_string(i);
      }
      const std::string info = data.command(i, {"INFO", "replication"});
      if (info_field(info, "role") != "slave" ||
          info_field(info, "master_port") != std::to_string(master_port) ||
          info_field(info, "master_link_status") != "up") {
        return "data node " + std::to_string(i) + " is not yet a replica of " +
               address(master_port) + " in sync";
      }
    }

    // Every live sentinel sees the master up, each live replica connected and the other live
    // sentinels connected: what a failover needs.
    for (std::size_t s = 0; s < sentinels.size(); ++s) {
      if (!live(sentinels, s)) {
        continue;
      }
      const std::string who = "sentinel " + std::to_string(s);
      auto master_fields = sentinels.call(s, {"SENTINEL", "master", gr.name}).fields();
      if (master_fields["flags"] != "master") {
        return who + " sees the master with flags '" + master_fields["flags"] + "'";
      }
      if (master_fields["num-other-sentinels"] != std::to_string(sentinels.size() - 1)) {
        return who + " knows " + master_fields["num-other-sentinels"] + " of the other " +
               std::to_string(sentinels.size() - 1) + " sentinels";
      }
      auto replicas = entries_by_port(sentinels.call(s, {"SENTINEL", "replicas", gr.name}));
      for (std::size_t i = 0; i < data.size(); ++i) {
        if (i == master || !live(data, i)) {
          continue;
        }
        // Only known, connected and up: the sentinel reads a replica's link status from an
        // INFO it takes every 10 s (every second once the master is down), so "ok" would wait
        // for nothing a failover needs.
        auto& entry = replicas[std::to_string(data_port(g, i))];
        if (entry["flags"] != "slave") {
          return who + " does not yet see data node " + std::to_string(i) +
                 " as a connected replica (flags '" + entry["flags"] + "')";
        }
      }
      auto others = entries_by_port(sentinels.call(s, {"SENTINEL", "sentinels", gr.name}));
      for (std::size_t t = 0; t < sentinels.size(); ++t) {
        if (t == s || !live(sentinels, t)) {
          continue;
        }
        auto& entry = others[std::to_string(sentinel_port(g, t))];
        if (entry["flags"] != "sentinel") {
          return who + " is not yet connected to sentinel " + std::to_string(t) + " (flags '" +
                 entry["flags"] + "')";
        }
      }
    }
  } catch (const transport_error& e) {
    return e.what();
  }
  return {};
}

}  // namespace redlock::testing
