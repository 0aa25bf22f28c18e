// redlock-torture: the torture run of issue 10 (docs/torture.md). Without --client-mode it is
// the driver; the driver re-executes this binary with --client-mode for each client process.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "client_process.hpp"
#include "driver.hpp"
#include "run_options.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(redlock::torture::usage().c_str(), stdout);
      return 0;
    }
  auto options = redlock::torture::parse_options(args);
  if (!options) {
    std::fprintf(stderr, "redlock-torture: %s\n%s", options.error().c_str(),
                 redlock::torture::usage().c_str());
    return 2;
  }
  try {
    if (options->client_mode) return redlock::torture::run_client(*options);
    return redlock::torture::run_driver(*options, "/proc/self/exe");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redlock-torture: %s\n", e.what());
    return 2;
  }
}
