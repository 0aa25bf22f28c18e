// redlock-async-loop: the async client on the caller's own loop, in its smallest form. Takes
// and releases a lock COUNT times, one after the other, then lets uv_run return by itself.
//
//   redlock-async-loop redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003 1000
//
// Also handy under `strace -c` to count the system calls of an acquire.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>

#include "redlock/async_client.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: redlock-async-loop URL[,URL...] COUNT\n");
    return 2;
  }
  redlock::client_options options;
  std::stringstream urls(argv[1]);
  for (std::string url; std::getline(urls, url, ',');)
    options.endpoints.push_back(url);
  long count = std::strtol(argv[2], nullptr, 10);

  uv_loop_t loop;
  uv_loop_init(&loop);
  long done = 0;
  long failed = 0;
  {
    auto locks = redlock::async_client::create(&loop, options);
    if (!locks) {
      std::fprintf(stderr, "%s\n", locks.message().c_str());
      return 2;
    }
    std::function<void()> next = [&] {
      if (done == count) return;
      auto started = locks->acquire(
          "loop:" + std::to_string(done), {}, [&](redlock::result<redlock::lease> held) {
            ++done;
            if (!held) {
              ++failed;
              std::fprintf(stderr, "%s\n", held.message().c_str());
              next();
              return;
            }
            (void)locks->release(std::move(*held), [&](redlock::result<void>) { next(); });
          });
      if (!started) std::fprintf(stderr, "%s\n", started.message().c_str());
    };
    next();
    uv_run(&loop, UV_RUN_DEFAULT);  // returns when the last release is done: nothing is held
    std::printf("%ld acquired, %ld failed\n", done - failed, failed);
  }                               // the client closes its handles...
  uv_run(&loop, UV_RUN_DEFAULT);  // ...which this run completes
  uv_loop_close(&loop);
  return failed == 0 ? 0 : 1;
}
