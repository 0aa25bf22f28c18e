// redlock-auto-extend: jobs that run longer than their lock's ttl, kept alive by
// auto-extension, and that stop when the lock is lost.
//
//  1. with_lock(): acquire (auto-extended), run the job, release. The job runs three ttls and
//     checks lost() between its pieces.
//  2. acquire() with auto_extend, an on_lost callback and a cap (max_hold): the job waits on
//     wait_lost() between its pieces and stops once the lease is lost. The cap makes the loss
//     come on time here (max_hold_reached); the same signal comes when an extension is refused
//     (our keys are gone: refused) or when too few nodes answer until the margin is reached
//     (margin_reached): stop two of three servers while job 2 runs to see that one.
//
//   redlock-auto-extend redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379
//   REDLOCK_SERVERS=redis://10.0.0.1:6379,... redlock-auto-extend
//
// Exits 0 when both jobs behaved as described, 1 otherwise (scripts/run-examples.sh runs it).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redlock/redlock.hpp"
#include "servers.hpp"

using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

long long ms(steady_clock::duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// Job 1: three seconds of work in pieces of 100 ms under a lock whose ttl is one second.
bool job_with_lock(redlock::client& locks) {
  redlock::acquire_options o;
  o.ttl = 1s;  // with_lock turns auto_extend on: extended every half validity, on the loop
  int pieces = 0;
  redlock::result<void> done =
      locks.with_lock("examples:job-1", o, [&](const redlock::lease& held) {
        steady_clock::time_point end = steady_clock::now() + 3s;
        while (!held.lost() && steady_clock::now() < end) {  // lost(): cheap, any thread
          std::this_thread::sleep_for(100ms);                // one piece of work
          ++pieces;
        }
      });
  // lock_lost: the lease was lost while the job ran (the job then ran partly unprotected);
  // other errors are the acquire's (the job did not run) or the release's.
  if (!done) {
    std::fprintf(stderr, "job 1: %s\n", done.message().c_str());
    return false;
  }
  std::printf("job 1: %d pieces in 3 s under a 1 s ttl, released\n", pieces);
  return true;
}

// Job 2: work in pieces until the lease is lost, then stop.
bool job_until_lost(redlock::client& locks) {
  redlock::acquire_options o;
  o.ttl = 1s;
  o.auto_extend.enabled = true;
  o.auto_extend.max_hold = 3s;  // extend for 3 s at most, then let the lease run out
  o.lost_margin = 0.1;          // declared lost 100 ms (0.1 ttl) before valid_until() at latest
  // on_lost runs once, on the client's loop thread, and must not block: it only hands the
  // signal on (a shared promise, so that it may outlive this function's frame).
  auto signal = std::make_shared<std::promise<redlock::lease_lost>>();
  o.on_lost = [signal](const redlock::lease_lost& why) { signal->set_value(why); };

  steady_clock::time_point start = steady_clock::now();
  redlock::result<redlock::lease> held = locks.acquire("examples:job-2", o);
  if (!held) {
    std::fprintf(stderr, "job 2: %s\n", held.message().c_str());
    return false;
  }
  int pieces = 0;
  // Between pieces the job waits on wait_lost() instead of sleeping: it returns true at once
  // when the lease is lost.
  while (!held->wait_lost(100ms)) {
    ++pieces;  // one piece of work: keep it short against the lost margin
  }
  std::printf(
      "job 2: stopped after %d pieces, %lld ms after the grant, %lld ms before "
      "valid_until()\n",
      pieces, ms(steady_clock::now() - start), ms(held->remaining()));

  std::future<redlock::lease_lost> told = signal->get_future();
  if (told.wait_for(2s) != std::future_status::ready) {
    std::fprintf(stderr, "job 2: on_lost did not run\n");
    return false;
  }
  redlock::lease_lost why = told.get();
  std::printf("job 2: on_lost: %s: %s\n", redlock::to_string(why.why), why.message.c_str());
  // A lost lease should still be released: that deletes what is left of our keys.
  (void)held->release();
  return why.why == redlock::lease_lost::cause::max_hold_reached;
}

}  // namespace

int main(int argc, char** argv) {
  redlock::client_options options = options_for(servers_from(argc, argv));

  redlock::result<redlock::client> locks = redlock::client::create(options);
  if (!locks) {
    std::fprintf(stderr, "%s\nusage: redlock-auto-extend URL[,URL...]\n", locks.message().c_str());
    return 1;
  }
  if (redlock::result<void> ready = locks->wait_ready(5s); !ready) {
    std::fprintf(stderr, "not ready: %s\n", ready.message().c_str());
    return 1;
  }
  bool ok = job_with_lock(*locks) && job_until_lost(*locks);

  // What the client counted: automatic extensions, and leases lost by cause.
  if (redlock::result<redlock::client_metrics> m = locks->metrics(); m) {
    std::printf(
        "auto-extensions: %llu succeeded, %llu failed; leases lost at max_hold: %llu\n",
        static_cast<unsigned long long>(m->auto_extends.succeeded),
        static_cast<unsigned long long>(m->auto_extends.failed),
        static_cast<unsigned long long>(m->lost(redlock::lease_lost::cause::max_hold_reached)));
  }
  return ok ? 0 : 1;
}
