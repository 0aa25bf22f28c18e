// redlock-fencing: fencing tokens and a protected resource that checks them. A lock alone
// cannot stop a holder that stalls (a GC pause, a swapped-out process, a slow disk) past its
// validity and then writes: by then another holder may have the lock. With fencing, each lease
// carries a number larger than every earlier one of the resource, and the resource refuses a
// write whose number is smaller than the largest it has accepted.
//
// Alice takes the lock and writes, then stalls; her keys expire and Bob is granted the lock
// with a larger number and writes; Alice resumes and writes with her old number: refused.
//
//   redlock-fencing redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379
//   REDLOCK_SERVERS=redis://10.0.0.1:6379,... redlock-fencing
//
// Exits 0 when the store accepted and refused exactly those writes, 1 otherwise
// (scripts/run-examples.sh runs it).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "redlock/redlock.hpp"
#include "servers.hpp"

using namespace std::chrono_literals;

namespace {

// The protected resource, in its smallest form: a value that remembers the largest fence it
// accepted and refuses a write with a smaller one. Check and write are one atomic step (here
// under a mutex; in SQL, `UPDATE ... SET v = $1, fence = $2 WHERE id = $3 AND fence <= $2`).
// Equal numbers are accepted: the same holder writing twice.
class fenced_store {
 public:
  bool write(const std::string& value, std::uint64_t fence) {
    std::lock_guard<std::mutex> hold(mutex_);
    if (fence < largest_) return false;  // a holder granted later has written already
    largest_ = fence;
    value_ = value;
    return true;
  }
  std::string value() const {
    std::lock_guard<std::mutex> hold(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t largest_ = 0;
  std::string value_;
};

}  // namespace

int main(int argc, char** argv) {
  redlock::client_options options = options_for(servers_from(argc, argv));

  // Two clients, as two processes would have.
  redlock::result<redlock::client> alice = redlock::client::create(options);
  redlock::result<redlock::client> bob = redlock::client::create(options);
  if (!alice || !bob) {
    std::fprintf(stderr, "%s\nusage: redlock-fencing URL[,URL...]\n",
                 (!alice ? alice : bob).message().c_str());
    return 1;
  }
  for (redlock::client* c : {&*alice, &*bob}) {
    if (redlock::result<void> ready = c->wait_ready(5s); !ready) {
      std::fprintf(stderr, "not ready: %s\n", ready.message().c_str());
      return 1;
    }
  }
  fenced_store store;

  redlock::acquire_options fenced;
  fenced.fencing = true;  // one more round trip per acquire: the number is stored on a majority
  fenced.ttl = 500ms;     // short, so that Alice's stall outlasts it quickly
  redlock::result<redlock::lease> a = alice->acquire("examples:orders:42", fenced);
  if (!a) {
    std::fprintf(stderr, "alice: %s\n", a.message().c_str());
    return 1;
  }
  std::uint64_t alice_fence = *a->fence();
  bool first = store.write("shipped by alice", alice_fence);  // every write carries the fence
  std::printf("alice holds the lock, fence %llu; her write: %s\n",
              static_cast<unsigned long long>(alice_fence), first ? "accepted" : "refused");

  // Alice checks that she still holds the lock (a->lost() is false) and is about to write
  // again, when she stalls for longer than her validity. Her keys expire meanwhile, and Bob,
  // who waits for the lock, is granted it with a larger number.
  redlock::acquire_options waiting = fenced;
  waiting.wait = 3s;
  redlock::result<redlock::lease> b = bob->acquire("examples:orders:42", waiting);
  if (!b) {
    std::fprintf(stderr, "bob: %s\n", b.message().c_str());
    return 1;
  }
  std::uint64_t bob_fence = *b->fence();
  bool second = store.write("cancelled by bob", bob_fence);
  std::printf("bob holds the lock, fence %llu; his write: %s\n",
              static_cast<unsigned long long>(bob_fence), second ? "accepted" : "refused");

  // Alice resumes and writes what she was about to write, with her old number.
  bool stale = store.write("shipped by alice, again", alice_fence);
  std::printf("alice resumes, fence %llu; her late write: %s; the store holds \"%s\"\n",
              static_cast<unsigned long long>(alice_fence), stale ? "accepted (WRONG)" : "refused",
              store.value().c_str());

  // Releasing is compare-and-delete: Alice's release cannot delete Bob's key.
  (void)a->release();
  (void)b->release();
  return first && second && !stale && bob_fence > alice_fence ? 0 : 1;
}
