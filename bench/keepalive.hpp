// The keepalive scenario (not in `all`): many auto-extended leases kept alive, and their cost.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// Keepalive: one async client acquires `leases` leases with ttl 10 s and auto-extension (the
// default extend_at 0.5: each is extended about every 5 s), then keeps them alive for
// `window` while nothing else runs, with the given node_timeout. Measured over the window only:
// this process's CPU (getrusage: the client is the only work in it then; the loop sleeps between
// batches, so no idle baseline is subtracted), the script calls each server served (INFO
// commandstats), per extension period; and, after the acquires, resident memory growth per lease
// held.
row measure_keepalive(const std::vector<std::string>& urls, std::size_t leases, milliseconds window,
                      milliseconds node_timeout);

}  // namespace redlock::bench
