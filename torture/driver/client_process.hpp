// The client process of a torture run (redlock-torture --client-mode): one redlock::client
// against the run's nodes, doing a seeded random mix of operations on the run's resources,
// each recorded in its history file, until SIGTERM. It then releases what it holds and exits 0.
//
// The mix: acquire one resource or several (acquire_all), with and without a wait budget,
// with and without fencing, some auto-extended; the protected work (read-sleep-write of the
// resource's counter on the store), extends to shorter and longer ttls, ownership checks,
// releases, and leases dropped (kept, never extended or released, until they expire).
//
// The protected work only runs within the validity the history holds for the lease (the
// last valid_until recorded), minus write_margin, so every write the checker sees falls inside
// its claim. An auto-extended lease's validity moves without a call, so such a lease is
// checked (check_ownership, recorded) before its recorded validity runs out.
#pragma once

#include "run_options.hpp"

namespace redlock::torture {

// Returns the process's exit status.
int run_client(const run_options& options);

}  // namespace redlock::torture
