// redlock fleet up|down|status: a local fleet of redis-server processes on free loopback
// ports, for trying the lock out. Each node lives in DIR/node-<i> (redis.conf, redis.pid,
// redis.log, its data); DIR/fleet lists the endpoints. The servers are daemons: they outlive
// the command until `fleet down`.
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

struct fleet_node {
  std::string url;
  fs::path dir;
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
  std::string url;
  for (std::size_t i = 0; std::getline(in, url);) {
    if (url.empty()) continue;
    nodes.push_back({url, dir / ("node-" + std::to_string(i++))});
  }
  return nodes;
}

std::string joined(const std::vector<fleet_node>& nodes) {
  std::string out;
  for (const fleet_node& n : nodes)
    out += (out.empty() ? "" : ",") + n.url;
  return out;
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void write_config(const fleet_node& n, std::uint16_t port, bool persistence,
                  const testing::cert_set* certs) {
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
}

// Starts the node's daemon and waits until it accepts connections; false if it did not (the
// port was taken, most likely), with its log's words in `why`.
bool start_node(const std::string& server, const fleet_node& n, std::string& why) {
  fs::remove(n.dir / "redis.log");
  fs::remove(n.dir / "redis.pid");
  testing::program_result r = testing::run_program({server, (n.dir / "redis.conf").string()});
  auto deadline = steady_clock::now() + start_timeout;
  while (steady_clock::now() < deadline) {
    std::string log = read_file(n.dir / "redis.log");
    if (log.find("Ready to accept connections") != std::string::npos) return true;
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

int fleet_up(const parsed_args& args, const env_lookup& env) {
  const fs::path dir = dir_of(args, env);
  std::size_t count = 5;
  if (const std::string* v = args.value("nodes"))
    count = static_cast<std::size_t>(parse_integer(*v, "--nodes", 1, 99));
  const bool tls = args.has("tls");
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
  for (std::size_t i = 0; i < count; ++i) {
    fleet_node n{"", dir / ("node-" + std::to_string(i))};
    fs::create_directories(n.dir);
    std::string why;
    bool started = false;
    for (int attempt = 0; attempt < 5 && !started; ++attempt) {
      std::uint16_t port = free_port();
      n.url = std::string(tls ? "rediss" : "redis") + "://127.0.0.1:" + std::to_string(port);
      write_config(n, port, args.has("persistence"), certs ? &*certs : nullptr);
      why.clear();
      started = start_node(server, n, why);
    }
    if (!started) {
      std::cerr << "redlock fleet up: node " << i << " did not start: " << why << '\n';
      return exit_status::failure;
    }
    nodes.push_back(n);
  }
  {
    std::ofstream list(dir / "fleet");
    for (const fleet_node& n : nodes)
      list << n.url << '\n';
  }
  guard.done = true;
  const std::string servers = joined(nodes);
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
    if (args.has("json")) {
      std::cout << (i ? "," : "") << "{\"url\":" << json_string(nodes[i].url)
                << ",\"running\":" << (up ? "true" : "false") << ",\"pid\":" << (up ? pid : 0)
                << '}';
    } else {
      std::cout << nodes[i].url << "  " << (up ? "running, pid " + std::to_string(pid) : "stopped")
                << '\n';
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
          "started just now, REDLOCK_QUARANTINE=off).",
          {{"nodes", 0, true, "N", "how many servers (up; 5)"},
           {"dir", 0, true, "D", "where the servers live ($TMPDIR/redlock-fleet-$UID)"},
           {"persistence", 0, false, "", "appendonly yes, appendfsync always (up)"},
           {"tls", 0, false, "", "TLS only, with a test CA made in DIR/certs (up)"},
           {"env", 0, false, "", "print shell lines for eval (up)"},
           {"json", 0, false, "", "print JSON (up, status)"}},
          false,
          run_fleet};
}

}  // namespace redlock::cli
