// redlock-demo: a short tour on a local fleet of five redis-server processes. It takes and
// releases locks, shows a second owner being refused, kills nodes one by one and shows the lock
// working while a majority lives, then stops the fleet.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "redis_fleet.hpp"
#include "redlock/redlock.hpp"

namespace {

using std::chrono::milliseconds;

void show_tally(const redlock::tally& t) {
  for (const redlock::node_report& n : t.nodes()) {
    const char* vote = n.vote == redlock::vote::granted   ? "granted"
                       : n.vote == redlock::vote::refused ? "refused"
                       : n.vote == redlock::vote::failed  ? "failed"
                                                          : "unanswered";
    std::printf("      %-28s %-10s %s%s%s\n", n.endpoint.c_str(), vote,
                n.error ? n.error.message().c_str() : "", n.detail.empty() ? "" : ": ",
                n.detail.c_str());
  }
}

double ms_of(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main() {
  std::printf("starting 5 redis-server processes on free loopback ports...\n");
  redlock::testing::redis_fleet fleet(5);
  for (std::size_t i = 0; i < fleet.size(); ++i)
    std::printf("  node %zu: %s\n", i, fleet.url(i).c_str());

  redlock::client_options options;
  options.endpoints = fleet.urls();
  options.node_timeout = milliseconds(50);
  // These servers started a moment ago and never granted a lock: with the quarantine on (the
  // default) each would sit out max_ttl first, as a server that restarted must.
  options.quarantine.enabled = false;
  auto alice = redlock::client::create(options);
  auto bob = redlock::client::create(options);
  if (!alice || !bob) {
    std::fprintf(stderr, "cannot create clients: %s\n", (!alice ? alice : bob).message().c_str());
    return 1;
  }

  redlock::acquire_options ten_seconds;
  ten_seconds.ttl = milliseconds(10000);

  std::printf("\n1. alice takes 'orders:42' for 10 s\n");
  auto start = std::chrono::steady_clock::now();
  redlock::result<redlock::lease> held = alice->acquire("orders:42", ten_seconds);
  if (!held) {
    std::fprintf(stderr, "   unexpected: %s\n", held.message().c_str());
    return 1;
  }
  std::printf("   granted in %.2f ms, token %s, valid for %.0f ms more\n",
              ms_of(std::chrono::steady_clock::now() - start), held->token().c_str(),
              ms_of(held->remaining()));
  show_tally(held.tally());

  std::printf("\n2. bob tries the same resource while alice holds it\n");
  redlock::result<redlock::lease> refused = bob->acquire("orders:42", ten_seconds);
  std::printf("   %s: %s\n", refused ? "granted (WRONG)" : "refused", refused.message().c_str());

  std::printf("\n3. alice extends to 20 s, then releases\n");
  redlock::result<void> extended = held->extend(milliseconds(20000));
  std::printf("   extend: %s, valid for %.0f ms more\n",
              extended ? "ok" : extended.message().c_str(), ms_of(held->remaining()));
  redlock::result<void> released = held->release();
  std::printf("   release: %s, confirmed by %zu of 5 nodes (the rest follow in the background)\n",
              released ? "ok" : released.message().c_str(), released.tally().granted());

  std::printf("\n4. node 0 is killed (SIGKILL); bob locks with 4 of 5 nodes\n");
  fleet.kill(0);
  start = std::chrono::steady_clock::now();
  redlock::result<redlock::lease> with_four = bob->acquire("orders:42", ten_seconds);
  std::printf("   %s in %.2f ms\n", with_four ? "granted" : with_four.message().c_str(),
              ms_of(std::chrono::steady_clock::now() - start));
  show_tally(with_four.tally());
  if (with_four) (void)with_four->release();

  std::printf("\n5. node 1 is killed too: 3 of 5 left, still a majority\n");
  fleet.kill(1);
  redlock::result<redlock::lease> with_three = bob->acquire("orders:43", ten_seconds);
  std::printf("   %s\n", with_three ? "granted" : with_three.message().c_str());
  if (with_three) (void)with_three->release();

  std::printf("\n6. node 2 is killed: no majority is possible, and the client says so at once\n");
  fleet.kill(2);
  start = std::chrono::steady_clock::now();
  redlock::result<redlock::lease> none = bob->acquire("orders:44", ten_seconds);
  std::printf("   %s after %.2f ms\n   %s\n", none ? "granted (WRONG)" : "refused",
              ms_of(std::chrono::steady_clock::now() - start), none.message().c_str());

  std::printf("\n7. nodes 0 and 1 come back; the client reconnects by itself\n");
  fleet.restart(0);
  fleet.restart(1);
  bool again = false;
  for (int i = 0; i < 100 && !again; ++i) {
    redlock::result<redlock::lease> attempt = bob->acquire("orders:45", ten_seconds);
    again = static_cast<bool>(attempt);
    if (again) {
      std::printf("   granted again (after %d attempts)\n", i + 1);
      (void)attempt->release();
    } else {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  if (!again) std::printf("   not granted within 2 s\n");

  std::printf("\nstopping the fleet\n");
  return with_four && with_three && !none && again && !refused ? 0 : 1;
}
