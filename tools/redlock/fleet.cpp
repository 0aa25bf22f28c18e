// redlock fleet up|down|status: a local fleet of redis-server processes on free loopback
// ports, for trying the lock out. Each node lives in DIR/node-<i> (redis.conf, redis.pid,
// redis.log, its data); DIR/fleet lists the processes. The servers are daemons: they outlive
// the command until `fleet down`. With --sentinel each voter is a Sentinel-managed group:
// DIR/group-<g>/node-0 (the master), node-1 (its replica) and sentinel-<s> (its 3 sentinels).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "redis_fleet.hpp"
#include "test_certs.hpp"
#include "tool.hpp"

namespace redlock::cli {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds start_timeout{10'000};
constexpr milliseconds stop_timeout{10'000};
// A Sentinel fleet's settings: failovers quick enough to watch, slow enough not to happen on
// their own on a busy laptop. A sentinel reconnects at most once a second, and counts a new
// master as unanswered from the failover on: down-after must leave room for that.
constexpr std::size_t sentinels_per_group = 3;
constexpr std::size_t sentinel_quorum = 2;
constexpr milliseconds sentinel_down_after{2'000};
constexpr milliseconds sentinel_failover_timeout{5'000};
// Sentinels find each other through hellos sent every 2 s.
constexpr milliseconds settle_timeout{20'000};

// One process of the fleet, as a line of DIR/fleet: its URL alone (a plain fleet's node <i>,
// in DIR/node-<i>), or URL, dir (relative to DIR), group and kind, separated by tabs.
struct fleet_node {
  std::string url;
  fs::path dir;
  std::string group;  // "group1", ...; empty in a plain fleet
  std::string kind;   // "data" or "sentinel" in a Sentinel fleet
};

std::string default_dir(const env_lookup& env) {
  std::string tmp = env("TMPDIR").value_or("");
  if (tmp.empty()) tmp = "/tmp";
  return tmp + "/redlock-fleet-" + std::to_string(getuid());
}

// Absolute: redis-server changes into its dir before it opens the log file.
fs::path dir_of(const parsed_args& args, const env_lookup& env) {
  const std::string* d = args.value("dir");
  return fs::absolute(d != nullptr ? fs::path(*d) : fs::path(default_dir(env)));
}

// A loopback port the kernel says is free now (a server bound to it a moment later may still
// lose a race: the caller tries again).
std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error(std::string("cannot find a free loopback port: ") +
                             std::strerror(errno));
  }
  close(fd);
  return ntohs(in.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pid in the node's pidfile, or 0.
pid_t pid_of(const fs::path& node_dir) {
  std::ifstream in(node_dir / "redis.pid");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid > 0 ? pid : 0);
}

// A redis-server of ours, alive and not a zombie (a daemon's parent is init, which may be slow
// to reap it). A pidfile left by a server that was killed or by a reboot may name another
// process now: only a process running in this node's directory counts.
bool alive(pid_t pid, const fs::path& node_dir) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string stat = read_file(proc + "/stat");
  std::size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return false;
  // redis-server rewrites its command line, but it runs in its `dir`: the node's own.
  std::error_code ignored;
  return fs::read_symlink(proc + "/cwd", ignored) == node_dir;
}

std::vector<fleet_node> read_fleet(const fs::path& dir) {
  std::vector<fleet_node> nodes;
  std::ifstream in(dir / "fleet");
  std::string line;
  for (std::size_t i = 0; std::getline(in, line);) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    fleet_node n;
    std::string relative;
    std::getline(fields, n.url, '\t');
    if (std::getline(fields, relative, '\t')) {
      std::getline(fields, n.group, '\t');
      std::getline(fields, n.kind, '\t');
      n.dir = dir / relative;
    } else {
      n.dir = dir / ("node-" + std::to_string(i));
    }
    ++i;
    nodes.push_back(n);
  }
  return nodes;
}

void write_fleet(const fs::path& dir, const std::vector<fleet_node>& nodes) {
  std::ofstream list(dir / "fleet");
  for (const fleet_node& n : nodes) {
    list << n.url;
    if (!n.group.empty())
      list << '\t' << n.dir.lexically_relative(dir).string() << '\t' << n.group << '\t' << n.kind;
    list << '\n';
  }
}

std::string joined(const std::vector<std::string>& urls) {
  std::string out;
  for (const std::string& u : urls)
    out += (out.empty() ? "" : ",") + u;
  return out;
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A data node's redis.conf, with `extra` lines at the end (a replica's replicaof).
void write_config(const fleet_node& n, std::uint16_t port, bool persistence,
                  const testing::cert_set* certs, const std::vector<std::string>& extra = {}) {
  std::ofstream conf(n.dir / "redis.conf");
  conf << "bind 127.0.0.1\n";
  if (certs != nullptr) {
    conf << "port 0\ntls-port " << port << "\ntls-cert-file " << certs->server_cert
         << "\ntls-key-file " << certs->server_key << "\ntls-ca-cert-file " << certs->ca_cert
         << "\ntls-auth-clients no\n";
  } else {
    conf << "port " << port << '\n';
  }
  conf << "dir " << n.dir.string() << "\ndaemonize yes\npidfile " << (n.dir / "redis.pid").string()
       << "\nlogfile " << (n.dir / "redis.log").string() << "\nsave \"\"\n";
  if (persistence)
    conf << "appendonly yes\nappendfsync always\n";
  else
    conf << "appendonly no\n";
  for (const std::string& line : extra)
    conf << line << '\n';
}

// A sentinel's redis.conf: it watches `group`'s master. The sentinel rewrites the file as it
// learns the replicas, the other sentinels and failovers.
void write_sentinel_config(const fleet_node& n, std::uint16_t port, const std::string& group,
                           std::uint16_t master_port) {
  std::ofstream conf(n.dir / "redis.conf");
  conf << "bind 127.0.0.1\nport " << port << "\ndir " << n.dir.string()
       << "\ndaemonize yes\npidfile " << (n.dir / "redis.pid").string() << "\nlogfile "
       << (n.dir / "redis.log").string() << "\nsentinel monitor " << group << " 127.0.0.1 "
       << master_port << ' ' << sentinel_quorum << "\nsentinel down-after-milliseconds " << group
       << ' ' << sentinel_down_after.count() << "\nsentinel failover-timeout " << group << ' '
       << sentinel_failover_timeout.count() << "\nsentinel parallel-syncs " << group << " 1\n";
}

// Starts the node's daemon and waits until it accepts connections; false if it did not (the
// port was taken, most likely), with its log's words in `why`.
bool start_node(const std::string& server, const fleet_node& n, std::string& why) {
  fs::remove(n.dir / "redis.log");
  fs::remove(n.dir / "redis.pid");
  const bool sentinel = n.kind == "sentinel";
  std::vector<std::string> argv{server, (n.dir / "redis.conf").string()};
  if (sentinel) argv.emplace_back("--sentinel");
  testing::program_result r = testing::run_program(argv);
  // A sentinel has no data set to load: it serves once it has its ID.
  const char* ready = sentinel ? "Sentinel ID is" : "Ready to accept connections";
  auto deadline = steady_clock::now() + start_timeout;
  while (steady_clock::now() < deadline) {
    std::string log = read_file(n.dir / "redis.log");
    if (log.find(ready) != std::string::npos) return true;
    if (!r.ok() || log.find("# Failed") != std::string::npos ||
        log.find("Could not create server") != std::string::npos) {
      why = r.ok() ? log.substr(0, 400) : r.output;
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (why.empty()) why = "not ready within " + duration_text(start_timeout);
  if (pid_t pid = pid_of(n.dir); alive(pid, n.dir)) kill(pid, SIGKILL);
  return false;
}

// SIGTERM, then SIGKILL past the timeout; true once no node of the fleet runs.
std::size_t stop_nodes(const std::vector<fleet_node>& nodes) {
  std::vector<std::pair<pid_t, fs::path>> pids;
  for (const fleet_node& n : nodes) {
    pid_t pid = pid_of(n.dir);
    if (alive(pid, n.dir)) {
      kill(pid, SIGTERM);
      pids.emplace_back(pid, n.dir);
    }
  }
  auto deadline = steady_clock::now() + stop_timeout;
  for (const auto& [pid, dir] : pids) {
    while (alive(pid, dir) && steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(10));
    if (alive(pid, dir)) kill(pid, SIGKILL);
  }
  for (const auto& [pid, dir] : pids) {
    while (alive(pid, dir))
      std::this_thread::sleep_for(milliseconds(10));
  }
  return pids.size();
}

// Starts `n` on a free port, trying another one if it loses the port to someone else;
// `configure` writes its redis.conf for a port. Returns the port; throws std::runtime_error
// naming `what` if it never starts.
std::uint16_t start_on_free_port(const std::string& server, const fleet_node& n,
                                 const std::string& what,
                                 const std::function<void(std::uint16_t)>& configure) {
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::uint16_t port = free_port();
    configure(port);
    why.clear();
    if (start_node(server, n, why)) return port;
  }
  throw std::runtime_error(what + " did not start: " + why);
}

std::string loopback_url(const char* scheme, std::uint16_t port) {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
}

// `count` independent masters in DIR/node-<i>; returns their endpoints. Each node is added to
// `started` once it runs.
std::vector<std::string> start_plain_fleet(const std::string& server, const fs::path& dir,
                                           std::size_t count, bool persistence,
                                           const testing::cert_set* certs,
                                           std::vector<fleet_node>& started) {
  std::vector<std::string> endpoints;
  for (std::size_t i = 0; i < count; ++i) {
    fleet_node n{"", dir / ("node-" + std::to_string(i)), "", ""};
    fs::create_directories(n.dir);
    std::uint16_t port =
        start_on_free_port(server, n, "node " + std::to_string(i),
                           [&](std::uint16_t p) { write_config(n, p, persistence, certs); });
    n.url = loopback_url(certs != nullptr ? "rediss" : "redis", port);
    started.push_back(n);
    endpoints.push_back(n.url);
  }
  return endpoints;
}

// Waits until the group's replica is in sync (and its master streams to it, which after a full
// sync waits for the replica's first ACK) and every sentinel knows the master, the replica and
// the other sentinels, so that a failover can happen right after `up`.
void wait_group_settled(const std::string& group, std::uint16_t master_port,
                        std::uint16_t replica_port,
                        const std::vector<std::uint16_t>& sentinel_ports) {
  const auto ask = [](std::uint16_t port, const std::vector<std::string>& command) {
    return testing::resp_link(port, milliseconds(1'000)).call(command);
  };
  const std::string others = std::to_string(sentinel_ports.size() - 1);
  auto deadline = steady_clock::now() + settle_timeout;
  for (;;) {
    std::string missing;
    try {
      if (testing::info_field(ask(replica_port, {"INFO", "replication"}).str,
                              "master_link_status") != "up" ||
          testing::info_field(ask(master_port, {"INFO", "replication"}).str, "slave0")
                  .find("state=online") == std::string::npos)
        missing = "its replica is not in sync yet";
      for (std::size_t s = 0; s < sentinel_ports.size() && missing.empty(); ++s) {
        auto f = ask(sentinel_ports[s], {"SENTINEL", "master", group}).fields();
        if (f["num-slaves"] != "1" || f["num-other-sentinels"] != others) {
          missing = "sentinel " + std::to_string(s) + " knows " + f["num-slaves"] +
                    " replica(s) and " + f["num-other-sentinels"] + " of the other " + others +
                    " sentinels";
        }
      }
    } catch (const testing::transport_error& e) {
      missing = e.what();
    }
    if (missing.empty()) return;
    if (steady_clock::now() >= deadline) {
      throw std::runtime_error(group + " did not settle within " + duration_text(settle_timeout) +
                               ": " + missing);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// `groups` Sentinel-managed groups in DIR/group-<g>: a master (node-0), its replica (node-1)
// and 3 sentinels (sentinel-<s>); returns the groups' redis+sentinel:// endpoints. Each
// process is added to `started` once it runs.
std::vector<std::string> start_sentinel_fleet(const std::string& server, const fs::path& dir,
                                              std::size_t groups, bool persistence,
                                              std::vector<fleet_node>& started) {
  struct settling {
    std::string group;
    std::uint16_t master_port;
    std::uint16_t replica_port;
    std::vector<std::uint16_t> sentinel_ports;
  };
  std::vector<settling> waits;
  std::vector<std::string> endpoints;
  for (std::size_t g = 1; g <= groups; ++g) {
    const std::string group = "group" + std::to_string(g);
    const fs::path group_dir = dir / ("group-" + std::to_string(g));
    const auto start = [&](const std::string& name, const std::string& kind,
                           const std::function<void(const fleet_node&, std::uint16_t)>& configure) {
      fleet_node n{"", group_dir / name, group, kind};
      fs::create_directories(n.dir);
      std::uint16_t port = start_on_free_port(server, n, group + " " + name,
                                              [&](std::uint16_t p) { configure(n, p); });
      n.url = loopback_url("redis", port);
      started.push_back(n);
      return port;
    };
    // A full sync at once, not after 5 s (the wait for more replicas to share it).
    const std::string no_sync_delay = "repl-diskless-sync-delay 0";
    settling wait{group, 0, 0, {}};
    wait.master_port = start("node-0", "data", [&](const fleet_node& n, std::uint16_t p) {
      write_config(n, p, persistence, nullptr, {no_sync_delay});
    });
    wait.replica_port = start("node-1", "data", [&](const fleet_node& n, std::uint16_t p) {
      write_config(n, p, persistence, nullptr,
                   {no_sync_delay, "replicaof 127.0.0.1 " + std::to_string(wait.master_port)});
    });
    std::string endpoint = "redis+sentinel://";
    for (std::size_t s = 0; s < sentinels_per_group; ++s) {
      const std::uint16_t port = start("sentinel-" + std::to_string(s), "sentinel",
                                       [&](const fleet_node& n, std::uint16_t p) {
                                         write_sentinel_config(n, p, group, wait.master_port);
                                       });
      wait.sentinel_ports.push_back(port);
      endpoint += (s > 0 ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(port);
    }
    endpoints.push_back(endpoint + "/" + group);
    waits.push_back(wait);
  }
  // Started side by side, so the groups settle side by side.
  for (const settling& w : waits)
    wait_group_settled(w.group, w.master_port, w.replica_port, w.sentinel_ports);
  return endpoints;
}

int fleet_up(const parsed_args& args, const env_lookup& env) {
  const fs::path dir = dir_of(args, env);
  const bool sentinel = args.has("sentinel");
  const bool tls = args.has("tls");
  if (sentinel && tls) {
    throw usage_error(
        "--sentinel and --tls together are not supported yet (TLS sentinels and TLS "
        "replication); start a TLS fleet or a Sentinel fleet");
  }
  std::size_t count = sentinel ? 3 : 5;
  if (const std::string* v = args.value("nodes"))
    count = static_cast<std::size_t>(parse_integer(*v, "--nodes", 1, 99));
  for (const fleet_node& n : read_fleet(dir)) {
    if (alive(pid_of(n.dir), n.dir)) {
      std::cerr << "redlock fleet up: a fleet already runs in " << dir.string()
                << " (redlock fleet down --dir " << dir.string() << " first)\n";
      return exit_status::failure;
    }
  }
  const std::string server = testing::find_redis_server();
  if (server.empty()) {
    std::cerr << "redlock fleet up: redis-server not found on PATH (Debian: apt-get install "
                 "redis-server; or set REDLOCK_REDIS_SERVER)\n";
    return exit_status::failure;
  }
  fs::create_directories(dir);
  std::optional<testing::cert_set> certs;
  if (tls) certs = testing::make_test_certs((dir / "certs").string());
  std::vector<fleet_node> nodes;
  // Whatever stops `up` half way (a failed start, an exception) stops the servers it started.
  struct stop_unless_done {
    std::vector<fleet_node>& started;
    bool done = false;
    ~stop_unless_done() {
      if (!done) stop_nodes(started);
    }
  } guard{nodes};
  const bool persistence = args.has("persistence");
  const std::vector<std::string> endpoints =
      sentinel
          ? start_sentinel_fleet(server, dir, count, persistence, nodes)
          : start_plain_fleet(server, dir, count, persistence, certs ? &*certs : nullptr, nodes);
  write_fleet(dir, nodes);
  guard.done = true;
  const std::string servers = joined(endpoints);
  if (args.has("json")) {
    std::cout << "{\"dir\":" << json_string(dir.string())
              << ",\"servers\":" << json_string(servers);
    if (certs) std::cout << ",\"tls_ca_file\":" << json_string(certs->ca_cert);
    std::cout << "}\n";
  } else if (args.has("env")) {
    std::cout << "export REDLOCK_SERVERS=" << shell_quoted(servers) << '\n';
    if (certs) std::cout << "export REDLOCK_TLS_CA_FILE=" << shell_quoted(certs->ca_cert) << '\n';
    std::cout << "# These servers started just now, so every one counts as restarted for the\n"
                 "# quarantine's max_ttl (60s): a trial fleet lets them vote at once.\n"
                 "export REDLOCK_QUARANTINE=off\n";
    if (sentinel) {
      std::cout << "# Each group has one replica: a vote counts once it has the write, so a\n"
                   "# promotion keeps the lock (docs/operations.md).\n"
                   "export REDLOCK_REPLICA_ACKS=1\n";
    }
  } else {
    std::cout << servers << '\n';
  }
  return exit_status::ok;
}

int fleet_down(const parsed_args& args, const env_lookup& env) {
  const fs::path dir = dir_of(args, env);
  std::vector<fleet_node> nodes = read_fleet(dir);
  if (nodes.empty()) {
    std::cerr << "redlock fleet down: no fleet in " << dir.string() << '\n';
    return exit_status::ok;
  }
  std::size_t stopped = stop_nodes(nodes);
  fs::remove(dir / "fleet");
  std::cerr << "redlock fleet down: stopped " << stopped << " of " << nodes.size() << " servers in "
            << dir.string() << '\n';
  return exit_status::ok;
}

int fleet_status(const parsed_args& args, const env_lookup& env) {
  const fs::path dir = dir_of(args, env);
  std::vector<fleet_node> nodes = read_fleet(dir);
  std::size_t running = 0;
  if (args.has("json")) std::cout << "{\"dir\":" << json_string(dir.string()) << ",\"nodes\":[";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    pid_t pid = pid_of(nodes[i].dir);
    bool up = alive(pid, nodes[i].dir);
    running += up ? 1u : 0u;
    const bool in_group = !nodes[i].group.empty();
    if (args.has("json")) {
      std::cout << (i ? "," : "") << "{\"url\":" << json_string(nodes[i].url);
      if (in_group)
        std::cout << ",\"group\":" << json_string(nodes[i].group)
                  << ",\"kind\":" << json_string(nodes[i].kind);
      std::cout << ",\"running\":" << (up ? "true" : "false") << ",\"pid\":" << (up ? pid : 0)
                << '}';
    } else {
      std::cout << nodes[i].url << "  "
                << (in_group ? nodes[i].group + " " + nodes[i].kind + "  " : std::string())
                << (up ? "running, pid " + std::to_string(pid) : "stopped") << '\n';
    }
  }
  if (args.has("json"))
    std::cout << "]}\n";
  else if (nodes.empty())
    std::cout << "no fleet in " << dir.string() << '\n';
  return !nodes.empty() && running == nodes.size() ? exit_status::ok : exit_status::failure;
}

int run_fleet(const parsed_args& args, const env_lookup& env) {
  if (args.positional.size() != 1) {
    throw usage_error("expected up, down or status (see redlock fleet --help)");
  }
  const std::string& what = args.positional[0];
  try {
    if (what == "up") return fleet_up(args, env);
    if (what == "down") return fleet_down(args, env);
    if (what == "status") return fleet_status(args, env);
  } catch (const fs::filesystem_error& e) {
    std::cerr << "redlock fleet " << what << ": " << e.what() << '\n';
    return exit_status::failure;
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const usage_error*>(&e) != nullptr) throw;
    std::cerr << "redlock fleet " << what << ": " << e.what() << '\n';
    return exit_status::failure;
  }
  throw usage_error("unknown action '" + what +
                    "': expected up, down or status (see redlock fleet --help)");
}

}  // namespace

command fleet_command() {
  return {"fleet",
          "up|down|status [OPTIONS]",
          "Starts (up), stops (down) or lists (status) a local fleet of redis-server processes\n"
          "on free loopback ports, for trying redlock out. The servers outlive the command. `up`\n"
          "prints the endpoints as --servers takes them; with --env, lines for\n"
          "eval \"$(redlock fleet up --env)\", which set REDLOCK_SERVERS (and, for a fleet\n"
          "started just now, REDLOCK_QUARANTINE=off). With --sentinel each endpoint is a\n"
          "Sentinel-managed group (redis+sentinel://): a master, a replica and 3 sentinels.",
          {{"nodes", 0, true, "N", "how many servers, or groups with --sentinel (up; 5, 3)"},
           {"dir", 0, true, "D", "where the servers live ($TMPDIR/redlock-fleet-$UID)"},
           {"persistence", 0, false, "", "appendonly yes, appendfsync always (up)"},
           {"tls", 0, false, "", "TLS only, with a test CA made in DIR/certs (up)"},
           {"sentinel", 0, false, "", "Sentinel-managed groups instead of single servers (up)"},
           {"env", 0, false, "", "print shell lines for eval (up)"},
           {"json", 0, false, "", "print JSON (up, status)"}},
          false,
          run_fleet};
}

}  // namespace redlock::cli
