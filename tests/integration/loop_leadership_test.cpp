// Leader/follower on a real libuv loop: which thread runs the loop while callers wait
// (run under ThreadSanitizer in CI).
#include "loop_leadership.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "loop.hpp"

namespace redlock::detail {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// A loop with a bridge, and the leadership over it; with `serving`, the client's thread too.
class led_loop {
 public:
  led_loop(bool may_lead, microseconds grace) {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    bridge_ = std::make_unique<bridge>(&loop_);
    bridge_->keep_loop_alive(true);
    leadership_ = std::make_unique<loop_leadership>(&loop_, *bridge_, may_lead, grace);
  }
  ~led_loop() {
    if (serving_.joinable()) {
      end();
    } else if (!ended_) {
      bridge_->close([] {});  // no client's thread: this one is the loop's
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop_);
  }

  void serve() {
    serving_ = std::thread([this] { leadership_->serve(); });
  }
  // As the client's destructor does: stop, close the bridge on the loop, wait for serve().
  void end() {
    leadership_->stop();
    bridge* b = bridge_.get();
    EXPECT_TRUE(b->post([b] { b->close([] {}); }));
    serving_.join();
    ended_ = true;
  }

  // One call whose outcome comes from the loop a little later (a zero timer, as an answer
  // read from a socket would): `answered` runs on the loop thread at that point.
  bool call(const std::function<void()>& answered = [] {}) {
    loop_leadership::call c;
    return leadership_->run(
        [&] {
          auto* timer = new uv_timer_t;
          uv_timer_init(&loop_, timer);
          timer->data = new std::function<void()>([&] {
            answered();
            leadership_->finish(c);
          });
          uv_timer_start(
              timer,
              [](uv_timer_t* t) {
                auto* then = static_cast<std::function<void()>*>(t->data);
                (*then)();
                delete then;
                uv_close(reinterpret_cast<uv_handle_t*>(t),
                         [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
              },
              0, 0);
        },
        c);
  }

  // One call answered by `timer`, which stays open (the timer is due at once, so it fires
  // before the loop's poll: the poll must not then wait for an event that never comes).
  bool call_on_timer(uv_timer_t& timer) {
    loop_leadership::call c;
    std::pair<loop_leadership*, loop_leadership::call*> finishing{leadership_.get(), &c};
    return leadership_->run(
        [&] {
          timer.data = &finishing;
          uv_timer_start(
              &timer,
              [](uv_timer_t* t) {
                auto* f =
                    static_cast<std::pair<loop_leadership*, loop_leadership::call*>*>(t->data);
                f->first->finish(*f->second);
              },
              0, 0);
        },
        c);
  }

  uv_loop_t* loop() { return &loop_; }
  loop_leadership& leadership() { return *leadership_; }
  std::thread::id serving_thread() const { return serving_.get_id(); }

 private:
  uv_loop_t loop_;
  std::unique_ptr<bridge> bridge_;
  std::unique_ptr<loop_leadership> leadership_;
  std::thread serving_;
  bool ended_ = false;
};

// Once the client's thread handed it the loop, a caller that calls again and again runs the
// loop itself: its answers are read on its own thread, which counts as the loop's meanwhile.
TEST(LoopLeadership, ACallerThatComesBackRunsTheLoopOnItsOwnThread) {
  led_loop l(true, std::chrono::hours(1));  // the client's thread never takes it back
  l.serve();
  ASSERT_TRUE(l.call());  // the client's thread had the loop; it hands it over
  for (int i = 0; i < 20; ++i) {
    std::thread::id answered_on;
    bool on_loop = false;
    ASSERT_TRUE(l.call([&] {
      answered_on = std::this_thread::get_id();
      on_loop = l.leadership().on_loop_thread();
    }));
    EXPECT_EQ(answered_on, std::this_thread::get_id()) << "call " << i;
    EXPECT_TRUE(on_loop);
    EXPECT_FALSE(l.leadership().on_loop_thread());
  }
}

// An outcome told by a timer that was due when the caller's turn of the loop began (so it
// fires before the poll) ends that turn: the caller returns, with no other event to wake it.
TEST(LoopLeadership, AnOutcomeToldBeforeThePollEndsTheCallersTurn) {
  led_loop l(true, std::chrono::hours(1));
  l.serve();
  uv_timer_t timer;
  ASSERT_TRUE(l.call([&] { uv_timer_init(l.loop(), &timer); }));  // on the loop
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(l.call_on_timer(timer)) << "call " << i;
  ASSERT_TRUE(l.call([&] { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }));
}

// In a child made by fork(), the loop, its epoll set and its sockets are the parent's: a call
// there is refused at once and runs nothing.
TEST(LoopLeadership, ACallInAForkedChildIsRefused) {
  led_loop l(true, microseconds(1000));
  l.serve();
  ASSERT_TRUE(l.call());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(10);  // a call that waited would otherwise keep the child forever
    bool ran = false;
    loop_leadership::call c;
    bool refused = !l.leadership().run([&] { ran = true; }, c);
    _exit(refused && !ran ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child did not exit (status " << status << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Many callers at once: each gets its own outcome, and the loop is never run by two threads
// at once (the plain counter is written by every callback on the loop: ThreadSanitizer sees
// any two threads that run it without the hand-off between them).
TEST(LoopLeadership, ManyCallersEachGetTheirOutcomeAndTheLoopRunsOnOneThreadAtATime) {
  led_loop l(true, microseconds(1000));
  l.serve();
  constexpr int threads = 16;
  constexpr int calls = 200;
  int callbacks = 0;  // loop thread only
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> answered_on_caller{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < calls; ++i) {
        std::thread::id me = std::this_thread::get_id();
        std::thread::id answered_on;
        bool ran = l.call([&] {
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++callbacks;
          answered_on = std::this_thread::get_id();
          inside.fetch_sub(1);
        });
        EXPECT_TRUE(ran);
        if (answered_on == me) answered_on_caller.fetch_add(1);
      }
    });
  }
  for (auto& c : callers)
    c.join();
  l.end();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(callbacks, threads * calls);
  // Callers led at least sometimes (a lone caller always would).
  EXPECT_GT(answered_on_caller.load(), 0);
}

// With no caller, the client's thread runs the loop: a timer set during a call fires after the
// call returned, on the client's thread.
TEST(LoopLeadership, TheClientsThreadRunsTheLoopWhileNoCallerDoes) {
  led_loop l(true, microseconds(1000));
  l.serve();
  ASSERT_TRUE(l.call());
  ASSERT_TRUE(l.call());  // now led by this thread
  std::promise<std::thread::id> fired;
  uv_timer_t timer;
  ASSERT_TRUE(l.call([&] {
    uv_timer_init(l.loop(), &timer);
    timer.data = &fired;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          static_cast<std::promise<std::thread::id>*>(t->data)->set_value(
              std::this_thread::get_id());
          uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        },
        20, 0);
  }));
  auto when = fired.get_future();
  ASSERT_EQ(when.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(when.get(), l.serving_thread());
}

// After stop(), the client's thread runs the loop to its end; later calls are refused and
// their task never runs.
TEST(LoopLeadership, CallsAfterTheEndAreRefused) {
  led_loop l(true, microseconds(1000));
  l.serve();
  ASSERT_TRUE(l.call());
  l.end();
  bool ran = false;
  loop_leadership::call c;
  EXPECT_FALSE(l.leadership().run([&] { ran = true; }, c));
  EXPECT_FALSE(ran);
}

// A caller's own loop (async_client) is run only by its owner: a call from another thread is
// answered on the owner's thread.
TEST(LoopLeadership, OnACallersLoopOnlyItsOwnerRunsIt) {
  led_loop l(false, microseconds(1000));
  std::thread::id owner = std::this_thread::get_id();
  EXPECT_TRUE(l.leadership().on_loop_thread());
  std::thread::id answered_on;
  std::atomic<bool> returned{false};
  std::thread caller([&] {
    EXPECT_FALSE(l.leadership().on_loop_thread());
    EXPECT_TRUE(l.call([&] { answered_on = std::this_thread::get_id(); }));
    returned = true;
  });
  while (!returned)
    uv_run(l.loop(), UV_RUN_NOWAIT);
  caller.join();
  EXPECT_EQ(answered_on, owner);
}

}  // namespace
}  // namespace redlock::detail
