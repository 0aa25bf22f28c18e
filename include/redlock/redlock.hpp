// The whole public API of redlock. See docs/design.md for the algorithm and the rules.
// It includes <uv.h> (through async_client.hpp): libuv is a public dependency.
#pragma once

#include "redlock/async_client.hpp"
#include "redlock/cancel.hpp"
#include "redlock/client.hpp"
#include "redlock/error.hpp"
#include "redlock/health.hpp"
#include "redlock/inspect.hpp"
#include "redlock/lease.hpp"
#include "redlock/lost.hpp"
#include "redlock/metrics.hpp"
#include "redlock/options.hpp"
#include "redlock/prometheus.hpp"
#include "redlock/result.hpp"
