// Many threads sharing one blocking client (run under ThreadSanitizer in CI).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "fixture.hpp"

namespace redlock::testing {
namespace {

using std::chrono::milliseconds;

class ThreadsTest : public fleet_test {};

// Threads contend for one resource: at most one of them is ever inside the critical section,
// and every thread gets its turn.
TEST_F(ThreadsTest, OneClientManyThreadsKeepMutualExclusion) {
  start_fleet(3);
  client locks = make_client();
  constexpr int threads = 8;
  constexpr int rounds = 15;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> entered{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      acquire_options o;
      o.ttl = milliseconds(10000);
      o.wait = milliseconds(30000);
      for (int i = 0; i < rounds; ++i) {
        result<lease> held = locks.acquire("shared", o);
        if (!held) {
          ADD_FAILURE() << held.message();
          continue;
        }
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        entered.fetch_add(1);
        std::this_thread::sleep_for(milliseconds(1));
        inside.fetch_sub(1);
        EXPECT_TRUE(held->release());
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(entered.load(), threads * rounds);
}

// Threads on distinct resources never block each other's locks.
TEST_F(ThreadsTest, DistinctResourcesFromManyThreads) {
  start_fleet(3);
  client locks = make_client();
  std::vector<std::thread> workers;
  std::atomic<int> granted{0};
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        result<lease> held = locks.acquire("r" + std::to_string(t) + ":" + std::to_string(i));
        if (held) granted.fetch_add(1);
        if (i % 2 == 0) {
          EXPECT_TRUE(held->extend(milliseconds(5000)));
        }
        // Half released explicitly, half by the destructor.
        if (i % 3 == 0) {
          EXPECT_TRUE(held->release());
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(granted.load(), 8 * 40);
  EXPECT_TRUE(eventually([&] { return fleet->keys(0, "redlock:*").empty(); }));
}

// Leases granted on some threads are released on others (explicitly or by their destructor)
// while those threads acquire too: whichever thread runs the loop, each release reaches it.
TEST_F(ThreadsTest, LeasesReleasedOnOtherThreadsThanTheirs) {
  start_fleet(3);
  client locks = make_client();
  std::mutex handed_mutex;
  std::condition_variable handed_ready;
  std::deque<lease> handed;
  constexpr int producers = 4;
  constexpr int per_producer = 30;
  std::atomic<int> produced{0};
  std::atomic<int> released{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < producers; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_producer; ++i) {
        result<lease> held = locks.acquire("h" + std::to_string(t) + ":" + std::to_string(i));
        EXPECT_TRUE(held) << held.message();
        std::lock_guard<std::mutex> lock(handed_mutex);
        handed.push_back(held ? std::move(*held) : lease());  // the consumers count on each
        if (held) produced.fetch_add(1);
        handed_ready.notify_one();
      }
    });
  }
  for (int t = 0; t < producers; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_producer; ++i) {
        std::unique_lock<std::mutex> lock(handed_mutex);
        handed_ready.wait(lock, [&] { return !handed.empty(); });
        lease mine = std::move(handed.front());
        handed.pop_front();
        lock.unlock();
        // This thread acquires too, so that it may be the one running the loop.
        result<lease> own = locks.acquire("c" + std::to_string(t) + ":" + std::to_string(i));
        EXPECT_TRUE(own) << own.message();
        if (i % 2 == 0 && mine.release()) released.fetch_add(1);  // else the destructor sends it
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(produced.load(), producers * per_producer);
  EXPECT_EQ(released.load(), producers * per_producer / 2);
  EXPECT_TRUE(eventually([&] { return fleet->keys(0, "redlock:*").empty(); }));
}

// Moving the client and creating/destroying clients while threads work elsewhere.
TEST_F(ThreadsTest, ClientsCreatedAndDestroyedConcurrently) {
  start_fleet(1);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        client locks = make_client();
        result<lease> held = locks.acquire("c" + std::to_string(t));
        EXPECT_TRUE(held) << held.message();
        EXPECT_TRUE(held->release());
        client moved = std::move(locks);
        EXPECT_TRUE(moved.acquire("m" + std::to_string(t) + ":" + std::to_string(i)));
      }
    });
  }
  for (auto& w : workers)
    w.join();
}

}  // namespace
}  // namespace redlock::testing
