// A clock-shift shim for redis-server, loaded with LD_PRELOAD: it moves the process's wall clock
// by an offset that a test can change while the server runs, so that one node of a fleet can jump
// its clock (and expire keys early or late) while the others keep the real time.
//
//   LD_PRELOAD=<build dir>/libredlock_clock_shift.so
//   REDLOCK_CLOCK_SHIFT_FILE=<node dir>/clock_shift_ms   (holds e.g. "30000" or "-1500")
//
// redis_fleet does both for a node started with node_options::clock_shift, and
// redis_fleet::shift_clock() writes the file (a temp file renamed over it).
//
// What is shifted: the wall clock, as gettimeofday(), time() and clock_gettime() of
// CLOCK_REALTIME and CLOCK_REALTIME_COARSE report it. Redis 7.0 takes every expiry decision from
// it: mstime()/ustime() are gettimeofday(), and keyIsExpired(), the active expire cycle, the
// cached server.mstime and the absolute expiry that SET ... PX stores all come from them; TIME is
// gettimeofday() as well. Traced on Debian's 7.0.15, the process reads gettimeofday(), time(),
// CLOCK_MONOTONIC (getMonotonicUs(): "monotonic clock: POSIX clock_gettime" in its log) and
// CLOCK_MONOTONIC_COARSE (jemalloc), never CLOCK_REALTIME; the realtime clocks of clock_gettime()
// are shifted anyway, so that every reader of the wall clock agrees. Every other clock is passed
// through unchanged: redis's event-loop timers run on the monotonic clock, which a real clock
// jump does not move either.
//
// How: the real time comes from raw syscalls (syscall(SYS_clock_gettime), SYS_gettimeofday), never
// from the libc or vDSO symbols found through dlsym(), so the shim needs no initialisation that
// could allocate or recurse (libfaketime's dlsym() calls calloc(), which is jemalloc in Debian's
// redis-server, whose initialisation calls clock_gettime(), which is libfaketime again, not yet
// initialised: wolfcw/libfaketime issues 130 and 478). The offset is a decimal number of
// milliseconds, optionally signed, in the file named by REDLOCK_CLOCK_SHIFT_FILE; it is re-read
// (open, read, close: no allocation, errno kept) on a clock call at least 10 ms of real monotonic
// time after the last read, by one thread at a time, and cached in an atomic for the others. A
// missing file means offset 0; a file that does not hold one number (it never does while only
// shift_clock() writes it) keeps the last offset. Without REDLOCK_CLOCK_SHIFT_FILE the shim only
// passes the clocks through.
//
// Linux only (raw syscall numbers); a test support file, never installed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

enum {
  reread_interval_ns = 10 * 1000 * 1000,  // re-read the offset file at most this often
  path_capacity = 4096,
  file_capacity = 64,  // more than "-9223372036854775808\n"
};

static const long long ns_per_ms = 1000 * 1000;
static const long long ns_per_s = 1000 * 1000 * 1000;

// The offset file's path, copied out of the environment before main() (redis rewrites its
// environment block for the process title). Empty: no offset file, every clock passes through.
static char offset_path[path_capacity];
static atomic_int have_path;

static atomic_llong offset_ms;     // the cached offset
static atomic_llong next_read_ns;  // the monotonic time from which the file may be read again

__attribute__((constructor)) static void clock_shift_init(void) {
  const char* path = getenv("REDLOCK_CLOCK_SHIFT_FILE");
  if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof offset_path) {
    return;
  }
  memcpy(offset_path, path, strlen(path) + 1);
  atomic_store_explicit(&have_path, 1, memory_order_release);
}

static int real_clock_gettime(clockid_t clock, struct timespec* ts) {
  return (int)syscall(SYS_clock_gettime, clock, ts);
}

static long long monotonic_ns(void) {
  struct timespec ts;
  if (real_clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    return 0;
  }
  return (long long)ts.tv_sec * ns_per_s + ts.tv_nsec;
}

// Parses an optionally signed decimal with surrounding blanks; returns 0 unless it is one.
static int parse_ms(const char* text, long long* out) {
  const char* p = text;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
    ++p;
  }
  int negative = 0;
  if (*p == '-' || *p == '+') {
    negative = *p == '-';
    ++p;
  }
  if (*p < '0' || *p > '9') {
    return 0;
  }
  long long value = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (value > (LLONG_MAX - 9) / 10) {
      return 0;  // more than anyone shifts a clock by
    }
    value = value * 10 + (*p - '0');
  }
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
    ++p;
  }
  if (*p != '\0') {
    return 0;
  }
  *out = negative ? -value : value;
  return 1;
}

// Reads the offset file into offset_ms (0 if it is missing; unchanged if it holds no number).
static void read_offset_file(void) {
  const int fd =
      (int)syscall(SYS_openat, AT_FDCWD, offset_path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0) {
    if (errno == ENOENT) {
      atomic_store_explicit(&offset_ms, 0, memory_order_relaxed);
    }
    return;
  }
  char text[file_capacity];
  size_t used = 0;
  for (;;) {
    const long n = syscall(SYS_read, fd, text + used, sizeof text - 1 - used);
    if (n > 0) {
      used += (size_t)n;
      if (used == sizeof text - 1) {
        break;
      }
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  syscall(SYS_close, fd);
  text[used] = '\0';
  long long value = 0;
  if (parse_ms(text, &value)) {
    atomic_store_explicit(&offset_ms, value, memory_order_relaxed);
  }
}

// The offset to add to the wall clock now, re-reading the file when it is due.
static long long current_offset_ms(void) {
  if (!atomic_load_explicit(&have_path, memory_order_acquire)) {
    return 0;
  }
  const int saved_errno = errno;
  const long long now = monotonic_ns();
  long long due = atomic_load_explicit(&next_read_ns, memory_order_relaxed);
  // One thread wins the exchange and reads; the others keep the cached offset meanwhile.
  if (now >= due &&
      atomic_compare_exchange_strong_explicit(&next_read_ns, &due, now + reread_interval_ns,
                                              memory_order_relaxed, memory_order_relaxed)) {
    read_offset_file();
  }
  errno = saved_errno;
  return atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

// Adds `shift` milliseconds to a (seconds, nanoseconds) time, keeping 0 <= nanoseconds < 1 s.
static void add_ms(time_t* sec, long long* nsec, long long shift) {
  long long s = (long long)*sec + shift / 1000;
  long long ns = *nsec + (shift % 1000) * ns_per_ms;
  if (ns < 0) {
    ns += ns_per_s;
    --s;
  } else if (ns >= ns_per_s) {
    ns -= ns_per_s;
    ++s;
  }
  *sec = (time_t)s;
  *nsec = ns;
}

// The real wall clock of `clock` (CLOCK_REALTIME or CLOCK_REALTIME_COARSE), shifted.
static int shifted_realtime(clockid_t clock, struct timespec* ts) {
  const int rc = real_clock_gettime(clock, ts);
  if (rc == 0) {
    const long long shift = current_offset_ms();
    if (shift != 0) {
      long long ns = ts->tv_nsec;
      add_ms(&ts->tv_sec, &ns, shift);
      ts->tv_nsec = (long)ns;
    }
  }
  return rc;
}

SHIM_EXPORT int clock_gettime(clockid_t clock, struct timespec* ts) {
  if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) {
    return shifted_realtime(clock, ts);
  }
  return real_clock_gettime(clock, ts);
}

SHIM_EXPORT int gettimeofday(struct timeval* restrict tv, void* restrict tz) {
  const int rc = (int)syscall(SYS_gettimeofday, tv, tz);
  if (rc == 0) {
    const long long shift = current_offset_ms();
    if (shift != 0) {
      long long ns = (long long)tv->tv_usec * 1000;
      add_ms(&tv->tv_sec, &ns, shift);
      tv->tv_usec = (suseconds_t)(ns / 1000);
    }
  }
  return rc;
}

SHIM_EXPORT time_t time(time_t* out) {
  struct timespec ts;
  if (shifted_realtime(CLOCK_REALTIME, &ts) != 0) {
    return (time_t)-1;
  }
  if (out != NULL) {
    *out = ts.tv_sec;
  }
  return ts.tv_sec;
}
