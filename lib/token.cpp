#include "token.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

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

std::string random_token() {
  unsigned char raw[16];
  os_random(raw, sizeof raw);
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
