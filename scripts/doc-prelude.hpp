// What the C++ blocks of README.md and docs/*.md use without declaring it, for
// scripts/check-doc-blocks.py (which includes this before every block). A block reads as if it
// came after the README's first example: `locks` and `options` are that example's, and the
// chrono literals (10s, 50ms) are in scope. A name a new block needs beyond these goes here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <redlock/redlock.hpp>

using namespace std::chrono_literals;

// The client as redlock::client::create returns it (so `locks->acquire(...)`), and its options.
extern redlock::result<redlock::client> locks;
extern redlock::client_options options;

// The application's own helpers.
[[noreturn]] void die(std::string_view why);
template <class... Words>
void log(const Words&... words);
void work_until(std::chrono::steady_clock::time_point deadline);
void do_a_piece_of_work();
void stop_work(std::string_view why);
void serve(const std::string& metrics_text);

// A protected resource that checks fencing tokens (docs/safety.md): false when it refused the
// write because it has accepted a larger fence.
struct order_store {
  bool update_order(int id, std::string_view state, std::uint64_t fence);
};
extern order_store db;
