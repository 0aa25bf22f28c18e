#include "driver.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "client_fleet.hpp"
#include "fault_runner.hpp"
#include "flat_json.hpp"
#include "redis_fleet.hpp"
#include "sentinel_fleet.hpp"

namespace redlock::torture {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string make_dir(const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  std::string pattern = "/tmp/redlock-torture-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i)
    out += (i > 0 ? std::string(1, sep) : "") + parts[i];
  return out;
}

// Lock keys still on node i, named `where`: every key under the prefix but the fence hash (the
// prefix itself).
void list_leftover_keys(const testing::redis_fleet& nodes, std::size_t i, const std::string& where,
                        std::vector<leftover_key>& out) {
  try {
    for (const std::string& k : nodes.keys(i, "redlock:?*"))
      out.push_back({where, k});
  } catch (const std::exception& e) {
    out.push_back({where, std::string("(cannot list keys: ") + e.what() + ")"});
  }
}

// On every node, or on every group's master.
std::vector<leftover_key> leftover_keys(const testing::redis_fleet* nodes,
                                        const testing::sentinel_fleet* groups) {
  std::vector<leftover_key> out;
  for (std::size_t i = 0; nodes != nullptr && i < nodes->size(); ++i)
    list_leftover_keys(*nodes, i, nodes->url(i), out);
  for (std::size_t g = 0; groups != nullptr && g < groups->size(); ++g)
    list_leftover_keys(groups->data_nodes(g), groups->master_node(g), groups->url(g), out);
  return out;
}

}  // namespace

int run_driver(run_options o, const std::string& self) {
  if (!o.seed_given)
    o.seed = static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count()) ^
             static_cast<std::uint64_t>(::getpid());
  // --persistence in restart-no-persistence is the appendfsync-always twin; double-restart
  // is about data loss only.
  if (o.scenario == scenario::double_restart) o.persistence = false;
  if ((o.scenario == scenario::restart_no_persistence || o.scenario == scenario::double_restart) &&
      o.fencing == 0)
    o.effects = effect_mode::unfenced;
  // The sentinel scenario acknowledges by default; --replica-acks 0 is its negative control.
  if (o.replica_acks < 0) o.replica_acks = o.scenario == scenario::sentinel ? 1 : 0;
  std::printf(
      "redlock-torture: seed %llu, scenario %s, %zu nodes, %zu clients, %zu resources, "
      "%lld s, effects %s, fencing %s, persistence %s, quarantine %s, replica acks %d\n",
      static_cast<unsigned long long>(o.seed), to_string(o.scenario), o.nodes, o.clients,
      o.resources, static_cast<long long>(o.duration.count() / 1000),
      o.effects == effect_mode::fenced ? "fenced" : "unfenced", o.fencing == 0 ? "off" : "on",
      o.persistence ? "on" : "off", o.quarantine ? "on" : "off", o.replica_acks);
  std::fflush(stdout);
  ::signal(SIGPIPE, SIG_IGN);

  const std::string dir = make_dir(o.dir);
  testing::node_options node_opts;
  node_opts.persistence = o.persistence;
  node_opts.clock_shift = o.scenario == scenario::clock_jump;
  if (o.scenario == scenario::eviction)
    node_opts.extra_config = {"maxmemory " + std::to_string(eviction_maxmemory_bytes),
                              "maxmemory-policy " + o.eviction_policy};
  // The counter store is declared before the proxies, so that it is torn down after their
  // threads stopped (its teardown closes descriptors a proxy thread may have used: TSan saw
  // that as a race in CI when the store went first).
  testing::redis_fleet store(1);
  const time_point fleet_started = steady_clock::now();
  // The voters: plain nodes, each behind one proxy per client slot (so that a partition can
  // cut one client off); or Sentinel groups, which the clients reach directly (the sentinels
  // hand out the masters' own addresses).
  std::unique_ptr<testing::redis_fleet> nodes;
  std::unique_ptr<testing::sentinel_fleet> groups;
  proxy_grid proxies(o.clients);
  std::vector<std::string> endpoints(o.clients);
  if (o.scenario == scenario::sentinel) {
    testing::sentinel_fleet_options g;
    g.data_nodes = node_opts;
    groups = std::make_unique<testing::sentinel_fleet>(o.nodes, g);
    for (std::string& e : endpoints)
      e = join(groups->urls(), ' ');
  } else {
    nodes = std::make_unique<testing::redis_fleet>(o.nodes, node_opts);
    for (std::size_t c = 0; c < o.clients; ++c) {
      std::vector<std::string> urls;
      for (std::size_t i = 0; i < o.nodes; ++i) {
        proxies[c].push_back(std::make_unique<testing::fault_proxy>(nodes->port(i)));
        urls.push_back(proxies[c].back()->url());
      }
      endpoints[c] = join(urls, ' ');
    }
  }

  std::vector<std::string> base = {
      "--store-port", std::to_string(store.port(0)),
      "--resources",  std::to_string(o.resources),
      "--effects",    o.effects == effect_mode::fenced ? "fenced" : "unfenced"};
  if (!o.quarantine) base.push_back("--no-quarantine");
  if (o.quorum != 0) base.insert(base.end(), {"--quorum", std::to_string(o.quorum)});
  if (o.seed_blindly) base.push_back("--seed-blindly");
  if (o.scenario == scenario::eviction) base.push_back("--risky-nodes-vote");
  if (o.fencing == 0) base.push_back("--no-fencing");
  if (o.replica_acks > 0)
    base.insert(base.end(), {"--replica-acks", std::to_string(o.replica_acks)});

  // A fleet started just now is quarantined for max_ttl (plus drift and uptime rounding):
  // start the clients once it can vote (a Sentinel fleet takes seconds to settle: part of it).
  if (o.quarantine) std::this_thread::sleep_until(fleet_started + max_ttl + milliseconds(1100));
  client_fleet clients(self, dir, base, endpoints, o.seed);
  clients.start(o.clients);
  const time_point started = steady_clock::now();
  fault_runner faults(o, nodes.get(), groups.get(), proxies, clients);
  faults.run_until(started + o.duration);
  faults.settle();
  const time_point faults_over = steady_clock::now();
  const std::size_t killed_at_end = clients.stop_all(milliseconds(3000));

  // Every lock of a stopped client has expired after the longest ttl (a restarted node
  // reloads its keys with their expiry); a key a node took while its clock was jumped forward
  // lives that much longer once the clock is set back (settle()).
  std::this_thread::sleep_for(
      max_ttl + milliseconds(500) +
      (o.scenario == scenario::clock_jump ? o.clock_jump : milliseconds(0)));
  std::vector<leftover_key> leftovers = leftover_keys(nodes.get(), groups.get());

  std::vector<record> all;
  std::size_t skipped = 0;
  for (const std::string& path : clients.histories()) {
    auto h = read_history(path);
    if (!h) {
      std::fprintf(stderr, "redlock-torture: %s\n", h.error().c_str());
      return 2;
    }
    skipped += h->skipped;
    if (h->skipped && o.verbose) std::fprintf(stderr, "skipped: %s\n", h->skipped_reason.c_str());
    all.insert(all.end(), h->records.begin(), h->records.end());
  }

  check_options c;
  c.effects = o.effects;
  c.budgets.acquire_slack = milliseconds(500);
  c.budgets.other_calls = milliseconds(2000);
  c.pauses = clients.pauses();
  // The first second the clients connect; the last span the clients are being stopped.
  c.healthy = faults.healthy(started + milliseconds(1000), faults_over);
  c.max_gap = max_ttl + max_wait + milliseconds(500);
  report r = check(all, c);
  r.leftover_keys = std::move(leftovers);

  std::string pause_list = "[";
  for (std::size_t i = 0; i < c.pauses.size(); ++i)
    pause_list += std::string(i > 0 ? "," : "") + "{\"client\":" + json_quote(c.pauses[i].client) +
                  ",\"from\":" + std::to_string(to_nanos(c.pauses[i].span.from)) +
                  ",\"to\":" + std::to_string(to_nanos(c.pauses[i].span.to)) + "}";
  pause_list += "]";
  const std::string extra =
      "\"seed\":" + std::to_string(o.seed) + ",\"scenario\":" + json_quote(to_string(o.scenario)) +
      ",\"fencing\":" + (o.fencing == 0 ? "false" : "true") +
      ",\"quarantine\":" + (o.quarantine ? "true" : "false") +
      ",\"persistence\":" + (o.persistence ? "true" : "false") +
      ",\"replica_acks\":" + std::to_string(o.replica_acks) +
      ",\"effects\":" + json_quote(o.effects == effect_mode::fenced ? "fenced" : "unfenced") +
      ",\"fault_count\":" + std::to_string(faults.faults().size()) +
      ",\"faults\":" + faults.faults_json() + ",\"pauses\":" + pause_list +
      ",\"histories\":" + std::to_string(clients.histories().size()) +
      ",\"skipped_lines\":" + std::to_string(skipped) +
      ",\"clients_killed_at_stop\":" + std::to_string(killed_at_end) +
      ",\"dir\":" + json_quote(dir);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << r.to_json(extra) << "\n";
    if (!out) {
      std::fprintf(stderr, "redlock-torture: cannot write %s\n", o.json_path.c_str());
      return 2;
    }
  }

  const std::vector<std::string> lines = r.descriptions();
  const std::size_t shown = o.verbose ? lines.size() : std::min<std::size_t>(lines.size(), 10);
  for (std::size_t i = 0; i < shown; ++i)
    std::printf("  %s\n", lines[i].c_str());
  if (shown < lines.size()) std::printf("  ... and %zu more\n", lines.size() - shown);
  std::printf("redlock-torture: %s, faults %zu, pauses %zu, seed %llu, histories in %s\n",
              r.summary().c_str(), faults.faults().size(), c.pauses.size(),
              static_cast<unsigned long long>(o.seed), dir.c_str());

  const bool clean_liveness = r.liveness_failures() == 0 && r.history_errors() == 0;
  if (o.expect_violation) {
    const bool found = r.violations() > 0;
    std::printf("redlock-torture: %s (a violation was expected)\n", found ? "PASS" : "FAIL");
    return found && r.history_errors() == 0 ? 0 : 1;
  }
  const bool pass = r.violations() == 0 && clean_liveness;
  std::printf("redlock-torture: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace redlock::torture
