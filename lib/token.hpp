// Lock tokens: 128 random bits from the operating system, as 32 lowercase hex digits. The
// token is what makes release and extend safe (compare-and-delete), so it must be
// unpredictable and unique across processes: it always comes from the kernel (getrandom,
// else /dev/urandom), never from a seeded PRNG. It is read in blocks into a per-thread
// buffer that a fork discards, so a child never repeats its parent's tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace redlock::detail {

// Fills `out` with `size` bytes from the OS. Aborts the process if the kernel cannot
// supply them: handing out a predictable token would break mutual exclusion silently.
void os_random(void* out, std::size_t size);

std::string random_token();

// A seed for the per-client jitter PRNG.
std::uint64_t random_seed();

}  // namespace redlock::detail
