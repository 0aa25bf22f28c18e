// Uses the installed headers and library: a bad option is refused with a message.
#include <redlock/async_client.hpp>
#include <redlock/redlock.hpp>

#include <cstdio>

int main() {
  redlock::client_options options;  // no endpoints
  auto locks = redlock::client::create(options);
  if (locks || locks.error() != redlock::errc::invalid_option) return 1;
  std::printf("%s\n", locks.message().c_str());
  return 0;
}
