// redlock-async-loop: the async client on the caller's own loop, in its smallest form. Takes
// and releases a lock COUNT times, one after the other, then lets uv_run return by itself.
//
//   redlock-async-loop redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003 1000
//   REDLOCK_SERVERS=redis://127.0.0.1:7001,... redlock-async-loop 1000
//
// Exits 0 when every acquire and release succeeded. Also handy under `strace -c` to count the
// system calls of an acquire.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "redlock/async_client.hpp"
#include "servers.hpp"

int main(int argc, char** argv) {
  const char* env = std::getenv("REDLOCK_SERVERS");
  if (argc != 3 && !(argc == 2 && env != nullptr)) {
    std::fprintf(stderr,
                 "usage: redlock-async-loop URL[,URL...] COUNT\n"
                 "       REDLOCK_SERVERS=URL[,URL...] redlock-async-loop COUNT\n");
    return 2;
  }
  redlock::client_options options = options_for(argc == 3 ? argv[1] : env);
  long count = std::strtol(argv[argc - 1], nullptr, 10);
  if (count < 1) {
    std::fprintf(stderr, "COUNT must be a number >= 1 (got '%s')\n", argv[argc - 1]);
    return 2;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  long done = 0;
  long failed = 0;
  {
    auto locks = redlock::async_client::create(&loop, options);
    if (!locks) {
      std::fprintf(stderr, "%s\n", locks.message().c_str());
      uv_loop_close(&loop);
      return 2;
    }
    std::function<void()> next = [&] {
      if (done == count) return;
      // The callback runs later, on this thread (never inside the call); a call that fails at
      // once (an invalid option, a closed client) never runs it.
      auto started = locks->acquire(
          "loop:" + std::to_string(done), {}, [&](redlock::result<redlock::lease> held) {
            ++done;
            if (!held) {
              ++failed;
              std::fprintf(stderr, "%s\n", held.message().c_str());
              next();
              return;
            }
            auto released = locks->release(std::move(*held), [&](redlock::result<void> r) {
              if (!r) {
                ++failed;
                std::fprintf(stderr, "%s\n", r.message().c_str());
              }
              next();
            });
            if (!released) {
              ++failed;
              std::fprintf(stderr, "%s\n", released.message().c_str());
            }
          });
      if (!started) {
        ++failed;
        std::fprintf(stderr, "%s\n", started.message().c_str());
      }
    };
    next();
    uv_run(&loop, UV_RUN_DEFAULT);  // returns when the last release is done: nothing is held
    std::printf("%ld acquired and released, %ld failed\n", done - failed, failed);
  }                               // the client closes its handles...
  uv_run(&loop, UV_RUN_DEFAULT);  // ...which this run completes
  uv_loop_close(&loop);
  return failed == 0 ? 0 : 1;
}
