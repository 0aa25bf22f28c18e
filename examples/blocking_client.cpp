// redlock-blocking-client: the blocking client, step by step. It connects to the servers, takes
// a lock (waiting up to 2 s while another owner holds it), works, extends the lock and checks
// the outcome, shows a second owner refused, and releases the lock.
//
//   redlock-blocking-client redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379
//   REDLOCK_SERVERS=redis://10.0.0.1:6379,... redlock-blocking-client
//
// Exits 0 when every step did what it should, 1 otherwise (scripts/run-examples.sh runs it).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "redlock/redlock.hpp"
#include "servers.hpp"

using namespace std::chrono_literals;

namespace {

long long ms(std::chrono::steady_clock::duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// Who said what: one line per node (granted, refused, failed and why, or unanswered).
void print_tally(const redlock::tally& t) {
  for (const redlock::node_report& n : t.nodes()) {
    const char* vote = n.vote == redlock::vote::granted   ? "granted"
                       : n.vote == redlock::vote::refused ? "refused"
                       : n.vote == redlock::vote::failed  ? "failed"
                                                          : "unanswered";
    std::string why = n.error ? " (" + n.error.message() + ": " + n.detail + ")" : "";
    std::fprintf(stderr, "  %s: %s%s\n", n.endpoint.c_str(), vote, why.c_str());
  }
}

int fail(const char* step, const redlock::result_base& r) {
  std::fprintf(stderr, "%s: %s (%s)\n", step, r.message().c_str(),
               redlock::to_string(static_cast<redlock::errc>(r.error().value())));
  print_tally(r.tally());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  redlock::client_options options = options_for(servers_from(argc, argv));

  // create() checks every option and starts connecting in the background; it does not wait.
  redlock::result<redlock::client> locks = redlock::client::create(options);
  if (!locks) {
    std::fprintf(stderr, "%s\nusage: redlock-blocking-client URL[,URL...]\n",
                 locks.message().c_str());
    return 1;
  }
  // Optional: fail fast at start-up when no majority is connected and may vote within 5 s
  // (down, refusing our password, still quarantined: the message names each node's state).
  if (redlock::result<void> ready = locks->wait_ready(5s); !ready) return fail("not ready", ready);

  redlock::acquire_options once;
  once.ttl = 10s;  // how long the lock lives on each node unless extended
  once.wait = 2s;  // while another owner holds it, keep trying for up to 2 s
  redlock::result<redlock::lease> held = locks->acquire("examples:report", once);
  if (!held) return fail("not acquired", held);  // held_elsewhere, no_quorum, ...
  // Decided as soon as a majority granted it: the tally may show the other nodes unanswered.
  std::printf("acquired '%s': granted by %zu of %zu nodes, token %s, valid for %lld ms\n",
              held->resource().c_str(), held.tally().granted(), held.tally().nodes().size(),
              held->token().c_str(), ms(held->remaining()));

  // The protected work must be done before valid_until(): past it, another owner may hold
  // the lock.
  std::this_thread::sleep_for(100ms);

  // More time is needed: extend. Only a success moves valid_until() later. A failure may
  // shorten it (nodes may have run the new ttl anyway): lock_lost means stop now; after
  // another error (no_quorum, ...) the lease still holds for remaining(), so finish only what
  // fits in it, or stop.
  if (redlock::result<void> extended = held->extend(10s); !extended) {
    std::fprintf(stderr, "valid for %lld ms more\n", ms(held->remaining()));
    return fail("not extended", extended);
  }
  std::printf("extended: valid for %lld ms more\n", ms(held->remaining()));

  // Anyone else is refused meanwhile (one attempt: no wait budget).
  redlock::result<redlock::lease> second = locks->acquire("examples:report");
  if (second || second.error() != redlock::errc::held_elsewhere) {
    std::fprintf(stderr, "a second owner was not refused: %s\n",
                 second ? "granted" : second.message().c_str());
    return 1;
  }
  std::printf("a second owner is refused: %s\n", second.message().c_str());

  // Deletes our key on every node; returns once a majority confirmed it is gone. (A lease
  // that goes out of scope is released too, without waiting.)
  redlock::result<void> released = held->release();
  if (!released) return fail("not released", released);
  std::printf("released: confirmed by %zu of %zu nodes (the others follow in the background)\n",
              released.tally().granted() + released.tally().refused(),
              released.tally().nodes().size());
  return 0;
}
