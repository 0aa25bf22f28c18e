// The whole public API of redlock. See docs/design.md for the algorithm and the rules.
#pragma once

#include "redlock/client.hpp"
#include "redlock/error.hpp"
#include "redlock/health.hpp"
#include "redlock/lease.hpp"
#include "redlock/options.hpp"
#include "redlock/result.hpp"
