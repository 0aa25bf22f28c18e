#include "token.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace redlock::detail {
namespace {

bool read_urandom(unsigned char* out, std::size_t size) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return done == size;
}

}  // namespace

void os_random(void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::getrandom(bytes + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // ENOSYS on an old kernel: fall back below
    done += static_cast<std::size_t>(n);
  }
  if (done == size || read_urandom(bytes + done, size - done)) return;
  std::fputs("redlock: the kernel supplied no random bytes for a lock token\n", stderr);
  std::abort();
}

namespace {

// Tokens come from a per-thread buffer of kernel randomness, refilled 32 tokens at a time, so
// an acquire costs no system call for its token. A fork would give parent and child the same
// buffer (and so the same tokens): the child discards every buffer (fork_generation).
std::atomic<std::uint64_t> fork_generation{0};

struct token_buffer {
  unsigned char bytes[512];
  std::size_t used = sizeof bytes;
  std::uint64_t generation = 0;
};

void take_random(unsigned char* out, std::size_t size) {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  thread_local token_buffer buffer;
  std::uint64_t generation = fork_generation.load();
  if (buffer.used + size > sizeof buffer.bytes || buffer.generation != generation) {
    os_random(buffer.bytes, sizeof buffer.bytes);
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::memcpy(out, buffer.bytes + buffer.used, size);
  std::memset(buffer.bytes + buffer.used, 0, size);  // a token is never handed out twice
  buffer.used += size;
}

}  // namespace

std::string random_token() {
  unsigned char raw[16];
  take_random(raw, sizeof raw);
  static constexpr char hex[] = "0123456789abcdef";
  std::string token(32, '0');
  for (std::size_t i = 0; i < sizeof raw; ++i) {
    token[2 * i] = hex[raw[i] >> 4];
    token[2 * i + 1] = hex[raw[i] & 0x0f];
  }
  return token;
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  os_random(&seed, sizeof seed);
  return seed;
}

}  // namespace redlock::detail
