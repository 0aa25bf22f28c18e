// The engine on fake nodes, a fake clock and a fake scheduler, shared by the engine's unit
// tests (acquire, extend, release, owed releases, one server one vote, readiness).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine.hpp"
#include "fakes.hpp"
#include "quorum.hpp"
#include "scripts.hpp"

namespace redlock::testing {

using detail::engine;
using detail::lock_record;
using std::chrono::milliseconds;

// Decodes a RESP array of bulk strings (what encode_command makes).
inline std::vector<std::string> args_of(const std::string& wire) {
  std::vector<std::string> out;
  std::size_t pos = wire.find("\r\n") + 2;
  while (pos < wire.size()) {
    std::size_t eol = wire.find("\r\n", pos);
    std::size_t len = std::stoul(wire.substr(pos + 1, eol - pos - 1));
    out.push_back(wire.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  return out;
}

// Records what the engine asks to watch (the waiting tests).
struct recording_watch final : detail::key_watch {
  bool delivering = false;  // what watch() answers
  std::vector<std::string> watched, unwatched;
  bool watch(const std::string& key) override {
    watched.push_back(key);
    return delivering;
  }
  void unwatch(const std::string& key) override { unwatched.push_back(key); }
};

// The outcome of an engine call, once its callback ran.
template <class T>
struct outcome_of {
  std::shared_ptr<std::optional<result<T>>> slot = std::make_shared<std::optional<result<T>>>();
  std::function<void(result<T>)> callback() {
    return [slot = slot](result<T> r) { slot->emplace(std::move(r)); };
  }
  bool ready() const { return slot->has_value(); }
  const result<T>& operator*() const { return **slot; }
  const result<T>* operator->() const { return &**slot; }
};

class EngineTest : public ::testing::Test {
 protected:
  static detail::engine_config defaults() { return detail::engine_config::from(client_options{}); }

  void make(std::size_t n, detail::engine_config config = defaults()) {
    config.seed = 42;
    for (std::size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<fake_node>("redis://node" + std::to_string(i) + ":6379"));
      links.push_back(nodes.back().get());
    }
    eng = std::make_unique<engine>(config, links, clock, timers);
  }

  // Starts an acquire whose outcome lands in `outcome`.
  void acquire(std::string resource, acquire_options options = {}) {
    acquire_all({std::move(resource)}, std::move(options));
  }
  // One lock on several resources.
  void acquire_all(std::vector<std::string> resources, acquire_options options = {}) {
    outcome.reset();
    eng->acquire(std::move(resources), options,
                 [this](result<std::shared_ptr<lock_record>> r) { outcome.emplace(std::move(r)); });
  }
  // An acquire of `resource` with `o`, granted by every node.
  std::shared_ptr<lock_record> acquire_granted(const std::string& resource,
                                               const acquire_options& o) {
    acquire(resource, o);
    for (auto& n : nodes)
      n->answer_ok();
    EXPECT_TRUE(outcome && *outcome) << (outcome ? outcome->message() : "no outcome");
    return outcome->value();
  }
  std::shared_ptr<lock_record> acquire_granted(milliseconds ttl = milliseconds(10000)) {
    acquire_options o;
    o.ttl = ttl;
    return acquire_granted("job", o);
  }
  outcome_of<void> extend(const std::shared_ptr<lock_record>& lock, milliseconds ttl) {
    outcome_of<void> out;
    eng->extend(lock, ttl, out.callback());
    return out;
  }
  outcome_of<void> release(const std::shared_ptr<lock_record>& lock) {
    outcome_of<void> out;
    eng->release(lock, out.callback());
    return out;
  }
  // Releases `lock`; every node confirms but the last, whose request times out (after it may
  // have run), so the release is owed to it.
  void release_owed_by_last(const std::shared_ptr<lock_record>& lock) {
    eng->release(lock, nullptr);
    for (std::size_t i = 0; i + 1 < nodes.size(); ++i)
      nodes[i]->answer_int(1);
    nodes.back()->fail(errc::node_timeout, "no reply within 50 ms", true);
  }
  // The arguments of the oldest command node `i` has not answered yet.
  std::vector<std::string> pending_args(std::size_t i) const {
    return nodes[i]->has_pending() ? args_of(nodes[i]->pending().wire) : std::vector<std::string>{};
  }
  bool release_pending(std::size_t i, const lock_record& lock) const {
    auto args = pending_args(i);
    return args.size() == 5 && args[0] == "EVALSHA" && args[2] == "1" &&
           args[1] == detail::release_script.sha1 && args[3] == lock.keys[0] &&
           args[4] == lock.token;
  }

  fake_clock clock;
  fake_scheduler timers{clock};
  std::vector<std::unique_ptr<fake_node>> nodes;
  std::vector<detail::node_link*> links;
  std::unique_ptr<engine> eng;
  std::optional<result<std::shared_ptr<lock_record>>> outcome;
};

}  // namespace redlock::testing
