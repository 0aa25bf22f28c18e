// What the commands of the `redlock` tool share: exit statuses, the client made from the
// command line, JSON text and failure reports.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "args.hpp"
#include "redlock/client.hpp"
#include "redlock/result.hpp"

namespace redlock::cli {

// Exit statuses (docs/cli.md). `exec` otherwise passes on its command's own status.
namespace exit_status {
constexpr int ok = 0;
constexpr int busy = 1;     // the lock is held by another owner (after --wait); -E changes it
constexpr int usage = 2;    // a bad flag, duration, endpoint or option
constexpr int failure = 3;  // no majority: nodes down, failing, refusing our configuration
constexpr int lost = 4;     // the lock was lost (exec: while the command ran), or is not held
}  // namespace exit_status

// The status for a failed operation: busy, usage (invalid_option, invalid_endpoint), lost
// (lock_lost), else failure.
int status_for(std::error_code e);

// The client the flags (else the environment) describe. Throws usage_error for a bad flag,
// and for options or endpoints the library refuses (its message names them).
client make_client(const parsed_args& args, const env_lookup& env);

// "redlock acquire: no_quorum: ..." and one line per node that did not grant, on `err`.
void report_failure(std::ostream& err, std::string_view command, const result_base& failed);

// A JSON string literal.
std::string json_string(std::string_view s);

// The environment of this process.
env_lookup process_env();

}  // namespace redlock::cli
