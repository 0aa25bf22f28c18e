// redlock acquire, extend, release, status and health: one operation each, for scripts.
#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <variant>

#include "commands.hpp"
#include "redlock/redlock.hpp"
#include "tool.hpp"

namespace redlock::cli {

namespace {

using std::chrono::milliseconds;

std::vector<flag> with_client_flags(std::vector<flag> own) {
  own.insert(own.end(), client_flags().begin(), client_flags().end());
  return own;
}

const flag json_flag{"json", 0, false, "", "print JSON instead of text"};

long long ms_left(const lease& held) {
  return std::chrono::duration_cast<milliseconds>(held.remaining()).count();
}

// 'it''s' for a shell: the text output of acquire is meant for eval.
std::string shell_quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

const std::string& only_resource(const parsed_args& args, std::string_view command,
                                 std::size_t most = 1) {
  if (args.positional.empty() || args.positional.size() > most) {
    throw usage_error(std::string("expected ") + (most == 1 ? "one RESOURCE" : "RESOURCE [TOKEN]") +
                      " (see redlock " + std::string(command) + " --help)");
  }
  return args.positional[0];
}

// TOKEN after RESOURCE, else $REDLOCK_TOKEN (as `eval "$(redlock acquire R)"` and exec set it).
std::string token_of(const parsed_args& args, const env_lookup& env) {
  if (args.positional.size() == 2) return args.positional[1];
  if (auto t = env("REDLOCK_TOKEN"); t && !t->empty()) return *t;
  throw usage_error("no token: give RESOURCE TOKEN, or set REDLOCK_TOKEN");
}

// The lock of another process (extend, release); exit status on failure.
std::variant<lease, int> adopted(client& locks, const std::string& resource,
                                 const std::string& token, std::string_view command) {
  result<lease> held = locks.adopt({resource}, token);
  if (held) return std::move(*held);
  report_failure(std::cerr, command, held);
  return status_for(held.error());
}

int run_acquire(const parsed_args& args, const env_lookup& env) {
  const std::string& resource = only_resource(args, "acquire");
  acquire_choice choice = acquire_choice_from(args);
  client locks = make_client(args, env);
  stalled_wait_warning warning("acquire", resource, choice.options.wait == milliseconds::max());
  result<lease> held = acquire_with_warning(locks, resource, choice.options, warning, std::cerr);
  if (!held) {
    report_failure(std::cerr, "acquire", held);
    return held.error() == errc::held_elsewhere ? choice.conflict_status : status_for(held.error());
  }
  long long valid_ms = ms_left(*held);
  std::optional<std::uint64_t> fence = held->fence();
  std::string token = held->token();
  if (auto kept = held->detach(); !kept) {
    report_failure(std::cerr, "acquire", kept);
    return exit_status::failure;
  }
  if (args.has("json")) {
    std::cout << "{\"resource\":" << json_string(resource) << ",\"token\":\"" << token
              << "\",\"valid_ms\":" << valid_ms;
    if (fence) std::cout << ",\"fence\":" << *fence;
    std::cout << "}\n";
  } else {
    std::cout << "export REDLOCK_RESOURCE=" << shell_quoted(resource)
              << "\nexport REDLOCK_TOKEN=" << token << "\nexport REDLOCK_VALID_MS=" << valid_ms
              << '\n';
    if (fence) std::cout << "export REDLOCK_FENCE=" << *fence << '\n';
  }
  return exit_status::ok;
}

int run_extend(const parsed_args& args, const env_lookup& env) {
  const std::string& resource = only_resource(args, "extend", 2);
  std::string token = token_of(args, env);
  milliseconds ttl = default_cli_ttl;
  if (const std::string* v = args.value("ttl")) ttl = parse_duration(*v, "--ttl");
  client locks = make_client(args, env);
  auto held = adopted(locks, resource, token, "extend");
  if (int* failed = std::get_if<int>(&held)) return *failed;
  lease& l = std::get<lease>(held);
  result<void> extended = l.extend(ttl);
  long long valid_ms = ms_left(l);
  // Left to its holder either way (a failed extend may still have run on some nodes), unless
  // an extend may still run late on a node: the lock is then released (when the client
  // closes) rather than handed back with keys that may shorten unseen.
  if (auto kept = l.detach(); !kept) {
    report_failure(std::cerr, "extend", kept);
    std::cerr << "redlock extend: the lock on " << resource << " is released\n";
    return exit_status::lost;
  }
  if (!extended) {
    report_failure(std::cerr, "extend", extended);
    return status_for(extended.error());
  }
  if (args.has("json"))
    std::cout << "{\"valid_ms\":" << valid_ms << "}\n";
  else
    std::cout << "export REDLOCK_VALID_MS=" << valid_ms << '\n';
  return exit_status::ok;
}

int run_release(const parsed_args& args, const env_lookup& env) {
  const std::string& resource = only_resource(args, "release", 2);
  std::string token = token_of(args, env);
  client locks = make_client(args, env);
  auto held = adopted(locks, resource, token, "release");
  if (int* failed = std::get_if<int>(&held)) return *failed;
  result<void> released = std::get<lease>(held).release();
  if (!released) {
    report_failure(std::cerr, "release", released);
    return status_for(released.error());
  }
  if (args.has("json")) {
    std::cout << "{\"released_on\":" << released.tally().granted() << "}\n";
  }
  return exit_status::ok;
}

int run_status(const parsed_args& args, const env_lookup& env) {
  const std::string& resource = only_resource(args, "status");
  client locks = make_client(args, env);
  auto nodes = locks.inspect(resource);
  if (!nodes) {
    report_failure(std::cerr, "status", nodes);
    return status_for(nodes.error());
  }
  std::size_t held = 0;
  std::size_t answered = 0;
  for (const node_lock_state& n : *nodes) {
    held += n.state == key_state::held ? 1u : 0u;
    answered += n.state != key_state::unknown ? 1u : 0u;
  }
  const std::size_t quorum = nodes->size() / 2 + 1;
  const bool majority = held >= quorum;
  // Fewer answers than a majority say nothing either way about the lock.
  const int status = answered >= quorum ? exit_status::ok : exit_status::failure;
  if (args.has("json")) {
    std::cout << "{\"resource\":" << json_string(resource) << ",\"held_on\":" << held
              << ",\"majority\":" << (majority ? "true" : "false") << ",\"nodes\":[";
    for (std::size_t i = 0; i < nodes->size(); ++i) {
      const node_lock_state& n = (*nodes)[i];
      std::cout << (i ? "," : "") << "{\"endpoint\":" << json_string(n.endpoint) << ",\"state\":\""
                << to_string(n.state) << '"';
      if (n.state == key_state::held) {
        if (n.ttl_left == milliseconds::max())
          std::cout << ",\"ttl_ms\":null";
        else
          std::cout << ",\"ttl_ms\":" << n.ttl_left.count();
      }
      if (!n.error.empty()) std::cout << ",\"error\":" << json_string(n.error);
      std::cout << '}';
    }
    std::cout << "]}\n";
    return status;
  }
  for (const node_lock_state& n : *nodes) {
    std::cout << n.endpoint << "  " << to_string(n.state);
    if (n.state == key_state::held) {
      std::cout << "  ttl "
                << (n.ttl_left == milliseconds::max() ? "none" : duration_text(n.ttl_left));
    }
    if (!n.error.empty()) std::cout << "  (" << n.error << ')';
    std::cout << '\n';
  }
  std::cout << resource << ": held on " << held << " of " << nodes->size() << " nodes"
            << (majority ? " (a majority)" : "")
            << (status == exit_status::ok ? "" : "; too few nodes answered to tell") << '\n';
  return status;
}

std::string micros(std::chrono::microseconds us) {
  std::ostringstream s;
  s << us.count() << "us";
  return s.str();
}

int run_health(const parsed_args& args, const env_lookup& env) {
  if (!args.positional.empty()) {
    throw usage_error("takes no arguments (see redlock health --help)");
  }
  milliseconds wait{2000};
  if (const std::string* v = args.value("connect-wait"))
    wait = parse_duration(*v, "--connect-wait");
  client locks = make_client(args, env);
  // Connections are made in the background: give them until none is still connecting.
  auto deadline = std::chrono::steady_clock::now() + wait;
  result<std::vector<node_health>> nodes = locks.health();
  while (nodes && std::chrono::steady_clock::now() < deadline) {
    bool connecting = false;
    for (const node_health& n : *nodes)
      connecting = connecting || n.state == node_state::connecting;
    if (!connecting) break;
    std::this_thread::sleep_for(milliseconds(20));
    nodes = locks.health();
  }
  // A few reads give each connected node a latency to show (PTTL of one key: nothing changes).
  for (int i = 0; nodes && i < 5; ++i)
    (void)locks.inspect("health");
  if (nodes) nodes = locks.health();
  if (!nodes) {
    report_failure(std::cerr, "health", nodes);
    return status_for(nodes.error());
  }
  std::size_t voting = 0;
  for (const node_health& n : *nodes)
    voting += can_vote(n) ? 1u : 0u;
  const bool enough = voting >= nodes->size() / 2 + 1;
  const char* states[] = {"connected", "connecting", "down"};
  if (args.has("json")) {
    std::cout << "{\"voting\":" << voting << ",\"majority\":" << (enough ? "true" : "false")
              << ",\"nodes\":[";
    for (std::size_t i = 0; i < nodes->size(); ++i) {
      const node_health& n = (*nodes)[i];
      std::cout << (i ? "," : "") << "{\"endpoint\":" << json_string(n.endpoint) << ",\"state\":\""
                << states[static_cast<int>(n.state)] << '"'
                << ",\"votes\":" << (can_vote(n) ? "true" : "false")
                << ",\"latency_p50_us\":" << n.latency_p50.count()
                << ",\"latency_p99_us\":" << n.latency_p99.count()
                << ",\"quarantine_ms\":" << n.quarantine_left.count()
                << ",\"quarantine_reason\":" << json_string(n.quarantine_reason)
                << ",\"duplicate_of\":" << json_string(n.duplicate_of) << ",\"key_loss_risks\":[";
      for (std::size_t r = 0; r < n.key_loss_risks.size(); ++r)
        std::cout << (r ? "," : "") << json_string(n.key_loss_risks[r]);
      std::cout << "],\"master\":" << json_string(n.master)
                << ",\"last_error\":" << json_string(n.last_error)
                << ",\"redis_version\":" << json_string(n.redis_version)
                << ",\"uptime_s\":" << n.uptime.count() << '}';
    }
    std::cout << "]}\n";
  } else {
    for (const node_health& n : *nodes) {
      std::cout << n.endpoint << "  " << states[static_cast<int>(n.state)]
                << (can_vote(n) ? "  votes" : "  does not vote");
      if (n.state == node_state::connected) {
        std::cout << "  latency p50 " << micros(n.latency_p50) << " p99 " << micros(n.latency_p99);
      }
      std::cout << '\n';
      if (!n.master.empty()) std::cout << "  master " << n.master << '\n';
      if (n.quarantine_left.count() > 0) {
        std::cout << "  quarantined for " << duration_text(n.quarantine_left) << ": "
                  << n.quarantine_reason << '\n';
      }
      if (!n.duplicate_of.empty()) std::cout << "  same server as " << n.duplicate_of << '\n';
      for (const std::string& risk : n.key_loss_risks)
        std::cout << "  risk: " << risk << '\n';
      if (!n.last_error.empty()) std::cout << "  last error: " << n.last_error << '\n';
    }
    std::cout << voting << " of " << nodes->size() << " nodes vote"
              << (enough ? " (a majority)" : ": no majority") << '\n';
  }
  return enough ? exit_status::ok : exit_status::failure;
}

}  // namespace

command acquire_command() {
  std::vector<flag> own = acquire_flags();
  own.push_back(json_flag);
  return {"acquire",
          "[OPTIONS] RESOURCE",
          "Takes RESOURCE and leaves it held when redlock exits: prints REDLOCK_RESOURCE,\n"
          "REDLOCK_TOKEN, REDLOCK_VALID_MS (validity left) and, with --fence, REDLOCK_FENCE, as\n"
          "lines for eval:  eval \"$(redlock acquire jobs)\".  extend and release take the token.",
          with_client_flags(own),
          false,
          run_acquire};
}

command extend_command() {
  return {"extend",
          "[OPTIONS] RESOURCE [TOKEN]",
          "Sets the lock's ttl on every node that still holds TOKEN (else $REDLOCK_TOKEN);\n"
          "prints REDLOCK_VALID_MS. Exit status 4 when a majority no longer holds it.",
          with_client_flags({acquire_flags().front(), json_flag}),
          false,
          run_extend};
}

command release_command() {
  return {"release",
          "[OPTIONS] RESOURCE [TOKEN]",
          "Deletes the lock on every node that holds TOKEN (else $REDLOCK_TOKEN). Exit status\n"
          "4 when a majority no longer held it (expired or released already).",
          with_client_flags({json_flag}),
          false,
          run_release};
}

command status_command() {
  return {"status",
          "[OPTIONS] RESOURCE",
          "Shows, per node, whether RESOURCE is held and the ttl left. Never prints a token.\n"
          "Exit status 3 when fewer than a majority of the nodes answered.",
          with_client_flags({json_flag}),
          false,
          run_status};
}

command health_command() {
  return {"health",
          "[OPTIONS]",
          "Shows each node's state, latency, quarantine, duplicate and key-loss flags. Exit\n"
          "status 3 when fewer than a majority can vote.",
          with_client_flags(
              {json_flag,
               {"connect-wait", 0, true, "D", "how long to let connections finish first (2s)"}}),
          false,
          run_health};
}

}  // namespace redlock::cli
