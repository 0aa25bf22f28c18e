// REDLOCK_API marks what the library exports; everything else is built with hidden
// visibility, so only the public API is reachable from a shared libredlock.
#pragma once

#if defined(_WIN32)
#define REDLOCK_API
#else
#define REDLOCK_API __attribute__((visibility("default")))
#endif
