#include "run_options.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string>
#include <utility>

namespace redlock::torture {

namespace {

// Every scenario with its --scenario name: the one list both directions read.
constexpr std::pair<scenario, const char*> scenario_names[] = {
    {scenario::healthy, "healthy"},
    {scenario::faults, "faults"},
    {scenario::restart_no_persistence, "restart-no-persistence"},
    {scenario::clock_jump, "clock-jump"},
    {scenario::double_restart, "double-restart"},
    {scenario::eviction, "eviction"},
    {scenario::sentinel, "sentinel"},
};

}  // namespace

const char* to_string(scenario s) noexcept {
  for (const auto& [value, name] : scenario_names)
    if (value == s) return name;
  return "?";
}

std::string usage() {
  return "usage: redlock-torture [--scenario healthy|faults|restart-no-persistence|clock-jump|\n"
         "                                   double-restart|eviction|sentinel]\n"
         "         [--nodes N] [--clients K] [--resources R] [--seconds S] [--seed X]\n"
         "         [--effects fenced|unfenced] [--persistence] [--no-quarantine]\n"
         "         [--fencing|--no-fencing] [--client-pauses|--no-client-pauses] "
         "[--fault-interval-ms MS]\n"
         "         [--clock-jump-ms MS] [--quorum K] [--seed-blindly]\n"
         "         [--eviction-policy volatile-lru|noeviction] [--restart-delay-ms MS]\n"
         "         [--replica-acks N]\n"
         "         [--json FILE] [--dir DIR] [--expect-violation] [--verbose]\n";
}

namespace {

outcome<std::uint64_t> number(const std::string& flag, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return fail(flag + ": not a number: '" + text + "'");
  return static_cast<std::uint64_t>(std::strtoull(text.c_str(), nullptr, 10));
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= text.size()) {
    std::size_t at = text.find(sep, from);
    if (at == std::string::npos) at = text.size();
    if (at > from) out.push_back(text.substr(from, at - from));
    from = at + 1;
  }
  return out;
}

}  // namespace

outcome<run_options> parse_options(const std::vector<std::string>& args) {
  run_options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&]() -> outcome<std::string> {
      if (i + 1 >= args.size()) return fail(flag + " needs a value");
      return args[++i];
    };
    auto count = [&](std::uint64_t lo, std::uint64_t hi) -> outcome<std::uint64_t> {
      auto v = value();
      if (!v) return fail(v.error());
      auto n = number(flag, *v);
      if (!n) return n;
      if (*n < lo || *n > hi)
        return fail(flag + ": " + *v + " is not in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
      return n;
    };
    if (flag == "--nodes" || flag == "--clients" || flag == "--resources") {
      auto n = count(1, 64);
      if (!n) return fail(n.error());
      (flag == "--nodes" ? o.nodes : flag == "--clients" ? o.clients : o.resources) = *n;
    } else if (flag == "--seconds") {
      auto n = count(1, 86'400);
      if (!n) return fail(n.error());
      o.duration = std::chrono::milliseconds(static_cast<std::int64_t>(*n) * 1000);
    } else if (flag == "--fault-interval-ms") {
      auto n = count(50, 600'000);
      if (!n) return fail(n.error());
      o.fault_interval = std::chrono::milliseconds(static_cast<std::int64_t>(*n));
    } else if (flag == "--restart-delay-ms") {
      auto n = count(0, 600'000);
      if (!n) return fail(n.error());
      o.restart_delay = std::chrono::milliseconds(static_cast<std::int64_t>(*n));
    } else if (flag == "--replica-acks") {
      auto n = count(0, 16);
      if (!n) return fail(n.error());
      o.replica_acks = static_cast<int>(*n);
    } else if (flag == "--quorum") {
      auto n = count(1, 64);
      if (!n) return fail(n.error());
      o.quorum = *n;
    } else if (flag == "--clock-jump-ms") {
      auto n = count(1, 3'600'000);
      if (!n) return fail(n.error());
      o.clock_jump = std::chrono::milliseconds(static_cast<std::int64_t>(*n));
    } else if (flag == "--seed") {
      auto v = value();
      if (!v) return fail(v.error());
      auto n = number(flag, *v);
      if (!n) return fail(n.error());
      o.seed = *n;
      o.seed_given = true;
    } else if (flag == "--store-port") {
      auto n = count(1, 65'535);
      if (!n) return fail(n.error());
      o.store_port = static_cast<std::uint16_t>(*n);
    } else if (flag == "--scenario") {
      auto v = value();
      if (!v) return fail(v.error());
      const auto* known = std::find_if(std::begin(scenario_names), std::end(scenario_names),
                                       [&](const auto& entry) { return *v == entry.second; });
      if (known == std::end(scenario_names))
        return fail("--scenario: unknown scenario '" + *v + "'");
      o.scenario = known->first;
    } else if (flag == "--effects") {
      auto v = value();
      if (!v) return fail(v.error());
      if (*v == "fenced") {
        o.effects = effect_mode::fenced;
      } else if (*v == "unfenced") {
        o.effects = effect_mode::unfenced;
      } else {
        return fail("--effects: 'fenced' or 'unfenced', not '" + *v + "'");
      }
    } else if (flag == "--json" || flag == "--dir" || flag == "--name" || flag == "--history" ||
               flag == "--endpoints") {
      auto v = value();
      if (!v) return fail(v.error());
      if (flag == "--json") o.json_path = *v;
      if (flag == "--dir") o.dir = *v;
      if (flag == "--name") o.name = *v;
      if (flag == "--history") o.history_path = *v;
      // Spaces: a redis+sentinel:// URL has commas of its own.
      if (flag == "--endpoints") o.endpoints = split(*v, ' ');
    } else if (flag == "--persistence") {
      o.persistence = true;
    } else if (flag == "--no-quarantine") {
      o.quarantine = false;
    } else if (flag == "--fencing") {
      o.fencing = 1;
    } else if (flag == "--no-fencing") {
      o.fencing = 0;
    } else if (flag == "--client-pauses") {
      o.client_pauses = 1;
    } else if (flag == "--no-client-pauses") {
      o.client_pauses = 0;
    } else if (flag == "--eviction-policy") {
      auto v = value();
      if (!v) return fail(v.error());
      if (*v != "volatile-lru" && *v != "noeviction")
        return fail("--eviction-policy: 'volatile-lru' or 'noeviction', not '" + *v + "'");
      o.eviction_policy = *v;
    } else if (flag == "--risky-nodes-vote") {
      o.risky_nodes_vote = true;
    } else if (flag == "--seed-blindly") {
      o.seed_blindly = true;
    } else if (flag == "--expect-violation") {
      o.expect_violation = true;
    } else if (flag == "--verbose") {
      o.verbose = true;
    } else if (flag == "--client-mode") {
      o.client_mode = true;
    } else {
      return fail("unknown flag '" + flag + "'");
    }
  }
  if (o.quorum > o.nodes && !o.client_mode)
    return fail("--quorum: " + std::to_string(o.quorum) + " is more than --nodes " +
                std::to_string(o.nodes));
  if (o.client_mode &&
      (o.name.empty() || o.history_path.empty() || o.endpoints.empty() || o.store_port == 0))
    return fail("--client-mode needs --name, --history, --endpoints and --store-port");
  return o;
}

}  // namespace redlock::torture
