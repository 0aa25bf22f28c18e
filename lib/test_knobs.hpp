// Knobs that break the lock on purpose, for the torture run's negative controls
// (docs/torture.md) and nothing else. They are not in the public headers and not installed,
// and no option reaches them: only a program linked against the library's internals (the
// torture's client processes) can set them, before it creates a client.
#pragma once

#include <atomic>
#include <cstddef>

namespace redlock::detail::test_knobs {

// The votes that make a round's majority; 0 (the only safe value): a majority of the nodes.
// Read when an engine is created.
extern std::atomic<std::size_t> quorum;

// Seed an UNSEEDED node without reading the other nodes (fence_seeder.hpp): it then counts
// again with the numbers it lost, as before the seeded mark existed.
extern std::atomic<bool> seed_blindly;

}  // namespace redlock::detail::test_knobs
