// release_notices: waiting by notification. The release script publishes each deletion on
// the channel named like the key; this keeps one subscriber connection per node, shared by
// every waiter of the client, subscribed to the keys that acquires with a wait budget are
// waiting for, and tells the engine what it hears (engine::notice):
//   - a message on a key's channel: released (one node is enough to wake its waiters);
//   - the first node to confirm a key's subscription: delivering (waiters whose attempt went
//     out before it try again, so a release between their refusal and the subscription is
//     never missed);
//   - the last confirming node lost: not_delivering.
// A key is subscribed when its first waiter comes and unsubscribed `linger` after its last
// one left, so a resource taken in turns is not subscribed and unsubscribed for every turn.
// The subscriber connections open at the first wait (a client that never waits has none).
//
// Loop thread only.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.hpp"
#include "node/node.hpp"

namespace redlock::detail {

class release_notices final : public key_watch {
 public:
  // One subscriber per node config (each is given subscriber mode here).
  release_notices(uv_loop_t* loop, loop_services& services, const clock& clock,
                  std::vector<node_config> nodes, engine& engine,
                  std::chrono::milliseconds linger = std::chrono::seconds(10));

  bool watch(const std::string& key) override;
  void unwatch(const std::string& key) override;
  // Keys subscribed now (waited for, or lingering), for tests and health.
  std::size_t keys() const { return keys_.size(); }
  // Whether some node confirmed `key`'s subscription on its current connection (what watch()
  // returns), for tests.
  bool delivers(const std::string& key) const;
  // Closes the subscriber connections; `closed` runs once they are closed.
  void close(std::function<void()> closed);

 private:
  struct key_state {
    std::size_t waiters = 0;
    std::vector<bool> confirmed;          // per node, on its current connection
    scheduler::timer_id unsubscribe = 0;  // while lingering
  };
  bool delivering(const key_state& k) const;
  void start();
  void confirmed(std::size_t node, const subscription& s);
  void unconfirmed(std::size_t node, const std::string& key);
  void lose(std::size_t node, const std::string& key, key_state& k);
  void connection_changed(std::size_t node);
  void forget(const std::string& key);

  loop_services& services_;
  engine& engine_;
  const std::chrono::milliseconds linger_;
  std::vector<std::unique_ptr<node>> nodes_;
  bool started_ = false;
  bool closing_ = false;
  std::unordered_map<std::string, key_state> keys_;
};

}  // namespace redlock::detail
