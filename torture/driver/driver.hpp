// The driver of a torture run: starts the nodes (redis_fleet, one fault proxy in front of
// each), the counter store (one more redis-server, not a voter) and the client processes;
// runs the fault schedule; stops the clients; looks for lock keys left on the nodes; reads
// every history and runs the checker; prints the summary and writes --json. docs/torture.md
// describes the run.
#pragma once

#include <string>

#include "run_options.hpp"

namespace redlock::torture {

// `self` is this executable (the client processes re-execute it). Returns the exit status:
// 0 when there were no violations, liveness failures or history errors (inverted for the
// violations with --expect-violation), 1 otherwise, 2 when the run itself failed.
int run_driver(run_options options, const std::string& self);

}  // namespace redlock::torture
