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
