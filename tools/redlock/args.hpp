// The command line of the `redlock` tool: flags, durations and the options every command that
// talks to the nodes shares. Pure functions, no I/O: each failure is a usage_error whose
// message names the flag or value and says what was expected (the tool prints it and exits
// with status 2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "redlock/options.hpp"

namespace redlock::cli {

// Exit statuses (docs/cli.md). `exec` otherwise passes on its command's own status.
namespace exit_status {
constexpr int ok = 0;
constexpr int busy = 1;     // the lock is held by another owner (after --wait); -E changes it
constexpr int usage = 2;    // a bad flag, duration, endpoint or option
constexpr int failure = 3;  // no majority: nodes down, failing, refusing our configuration
constexpr int lost = 4;     // the lock was lost (exec: while the command ran), or is not held
}  // namespace exit_status

class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "500ms", "10s", "1.5s", "2m", "1h": a number (decimals allowed) and a unit, at least 0 and at
// most one year. `what` names the flag in the message.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);
// A whole number in [low, high].
long long parse_integer(std::string_view text, std::string_view what, long long low,
                        long long high);
// "10.5s", "250ms": how the tool prints a duration.
std::string duration_text(std::chrono::milliseconds d);

struct flag {
  std::string name;  // "wait", given as --wait
  char letter = 0;   // 'w', given as -w; 0: none
  bool takes_value = false;
  std::string value_name;  // "D", for --help
  std::string help;
};

// What a command line said: flags by name (the last one given wins; a flag without a value
// maps to ""), then the positional arguments. With `stop_at_positional`, everything from the
// first positional on is positional (exec: RESOURCE, then the command and its own flags,
// after an optional "--").
struct parsed_args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  bool has(const std::string& name) const { return flags.count(name) != 0; }
  const std::string* value(const std::string& name) const;
};
parsed_args parse_args(const std::vector<std::string>& args, const std::vector<flag>& known,
                       std::string_view command, bool stop_at_positional = false);

// "  -w, --wait D    how long to wait ..." lines for --help.
std::string flags_help(const std::vector<flag>& known);

// The flags of every command that talks to the nodes, each with its environment variable:
// --servers (REDLOCK_SERVERS), --node-timeout, --key-prefix, --tls-*, --no-quarantine,
// --max-ttl.
const std::vector<flag>& client_flags();
// client_options from those flags, else from `env` (getenv in the tool, a map in tests).
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
client_options client_options_from(const parsed_args& args, const env_lookup& env);

// The ttl of acquire, exec and extend unless --ttl says otherwise.
constexpr std::chrono::milliseconds default_cli_ttl{30'000};

// The flags of acquire and exec: --ttl, -w/--wait, -n/--nonblock, --fence,
// -E/--conflict-exit-code.
std::vector<flag> acquire_flags();
struct acquire_choice {
  acquire_options options;
  int conflict_status;  // for held_elsewhere
};
// Throws usage_error for a bad value, or -n with -w.
acquire_choice acquire_choice_from(const parsed_args& args);

}  // namespace redlock::cli
