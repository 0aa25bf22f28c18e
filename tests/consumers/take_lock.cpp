// take_lock: the one program of the consumer projects (find-package/, add-subdirectory/,
// pkg-config/), built against an installed or a bundled redlock by scripts/test-consumers.sh.
// It takes a lock on the servers named by REDLOCK_SERVERS, prints its token and releases it:
//
//   export REDLOCK_SERVERS=redis://127.0.0.1:40001,redis://127.0.0.1:40002,redis://127.0.0.1:40003
//   take_lock
//
// Exit status 0 when the lock was taken and released; otherwise 1, with the error's message
// on stderr (2 when REDLOCK_SERVERS is missing).
#include <redlock/redlock.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <utility>

namespace {

int fail(const char* step, const redlock::result_base& outcome) {
  std::fprintf(stderr, "take_lock: %s failed (%s): %s\n", step,
               redlock::to_string(static_cast<redlock::errc>(outcome.error().value())),
               outcome.message().c_str());
  for (const redlock::node_report& node : outcome.tally().nodes()) {
    const char* vote = node.vote == redlock::vote::granted   ? "granted"
                       : node.vote == redlock::vote::refused ? "refused"
                       : node.vote == redlock::vote::failed  ? "failed"
                                                             : "unanswered";
    std::string why = node.error ? ", " + node.error.message() : "";
    if (!node.detail.empty()) why += " (" + node.detail + ")";
    std::fprintf(stderr, "  %s: %s%s\n", node.endpoint.c_str(), vote, why.c_str());
  }
  return 1;
}

}  // namespace

int main() {
  const char* servers = std::getenv("REDLOCK_SERVERS");
  if (servers == nullptr || *servers == '\0') {
    std::fprintf(stderr, "take_lock: set REDLOCK_SERVERS to the servers' URLs, comma-separated\n");
    return 2;
  }
  redlock::client_options options;
  std::stringstream urls(servers);
  for (std::string url; std::getline(urls, url, ',');)
    options.endpoints.push_back(url);
  // The test's servers were started a moment ago: with the quarantine on, each would count as
  // just restarted and refuse its vote for max_ttl (60 s). They have never granted a lock to a
  // running holder, which is when the quarantine may be turned off (options.hpp).
  options.quarantine.enabled = false;

  auto locks = redlock::client::create(std::move(options));
  if (!locks) return fail("create", locks);

  using namespace std::chrono_literals;
  redlock::acquire_options once;
  once.wait = 5s;  // the servers may still be starting; a busy lock is waited for too
  auto held = locks->acquire("redlock-consumer-test", once);
  if (!held) return fail("acquire", held);
  std::printf("%s\n", held->token().c_str());

  auto released = held->release();
  if (!released) return fail("release", released);
  return 0;
}
