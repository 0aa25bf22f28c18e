// prometheus_text: a client's metrics and its nodes' health in the Prometheus text exposition
// format 0.0.4, for a service to serve from its own metrics endpoint.
//
//   auto counted = locks->metrics();
//   auto nodes = locks->health();
//   if (counted && nodes) {
//     respond(200, "text/plain; version=0.0.4", redlock::prometheus_text(*counted, *nodes));
//   }
//
// Every name starts with redlock_; counters end in _total, times are in seconds. Each node's
// series carry an `endpoint` label: its URL with the password masked (node_health::endpoint).
// Every series is rendered, zeros included; docs/design.md ("Metrics") lists the families
// and their labels.
// A process with two clients renders each and tells them apart itself (e.g. one endpoint
// path per client): the names repeat.
#pragma once

#include <string>
#include <vector>

#include "redlock/export.hpp"
#include "redlock/health.hpp"
#include "redlock/metrics.hpp"

namespace redlock {

/// Pure: any thread. `nodes` is health()'s answer (any order is kept as given).
REDLOCK_API std::string prometheus_text(const client_metrics& metrics,
                                        const std::vector<node_health>& nodes);

}  // namespace redlock
