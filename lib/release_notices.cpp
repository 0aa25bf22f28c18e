#include "release_notices.hpp"

#include <algorithm>

#include "uv_handle.hpp"

namespace redlock::detail {

namespace {
// "released <clients listening>" (release.lua); 1 when the count is missing or not a number.
std::size_t listening_in(const std::string& payload) {
  std::size_t count = 0;
  for (std::size_t i = sizeof "released"; i < payload.size(); ++i) {
    if (payload[i] < '0' || payload[i] > '9' || count > 1'000'000) return 1;
    count = count * 10 + static_cast<std::size_t>(payload[i] - '0');
  }
  return count == 0 ? 1 : count;
}
}  // namespace

release_notices::release_notices(uv_loop_t* loop, loop_services& services, const clock& clock,
                                 std::vector<node_config> nodes, engine& engine,
                                 std::chrono::milliseconds linger)
    : services_(services), engine_(engine), linger_(linger) {
  for (node_config& config : nodes) {
    config.subscriber = true;
    nodes_.push_back(std::make_unique<node>(loop, services, clock, std::move(config)));
    std::size_t i = nodes_.size() - 1;
    node::push_listener listener;
    listener.message = [this](const push& p) {
      if (p.payload.rfind("taken", 0) == 0) {
        // "taken <teller>" (acquire.lua); a bare "taken" names nobody.
        std::string_view teller(p.payload);
        teller.remove_prefix(std::min(teller.size(), sizeof "taken"));
        engine_.notice(p.channel, key_notice::taken, 1, teller);
      } else if (p.payload.rfind("released", 0) == 0) {
        engine_.notice(p.channel, key_notice::released, listening_in(p.payload));
      }
    };
    listener.subscribed = [this, i](const subscription& s) { confirmed(i, s); };
    listener.unconfirmed = [this, i](const subscription& s) { unconfirmed(i, s.name); };
    nodes_[i]->on_push(std::move(listener));
    nodes_[i]->on_change([this, i] { connection_changed(i); });
  }
}

bool release_notices::watch(const std::string& key) {
  if (closing_) return false;
  start();
  auto [it, added] = keys_.try_emplace(key);
  key_state& k = it->second;
  if (added) {
    k.confirmed.assign(nodes_.size(), false);
    for (auto& n : nodes_)
      (void)n->subscribe(subscription::channel(key));
  } else if (k.unsubscribe != 0) {
    services_.cancel(k.unsubscribe);
    k.unsubscribe = 0;
  }
  ++k.waiters;
  return delivering(k);
}

void release_notices::unwatch(const std::string& key) {
  auto it = keys_.find(key);
  if (it == keys_.end() || --it->second.waiters > 0) return;
  if (closing_) {
    forget(key);
    return;
  }
  it->second.unsubscribe = services_.schedule(linger_, [this, key] { forget(key); });
}

void release_notices::forget(const std::string& key) {
  keys_.erase(key);
  for (auto& n : nodes_)
    (void)n->unsubscribe(subscription::channel(key));
}

bool release_notices::delivers(const std::string& key) const {
  auto it = keys_.find(key);
  return it != keys_.end() && delivering(it->second);
}

bool release_notices::delivering(const key_state& k) const {
  return std::any_of(k.confirmed.begin(), k.confirmed.end(), [](bool c) { return c; });
}

void release_notices::start() {
  if (started_) return;
  started_ = true;
  for (auto& n : nodes_)
    n->start();
}

void release_notices::confirmed(std::size_t node, const subscription& s) {
  auto it = keys_.find(s.name);
  if (it == keys_.end()) return;
  bool was = delivering(it->second);
  it->second.confirmed[node] = true;
  if (!was) engine_.notice(s.name, key_notice::delivering);
}

// A key forgotten and watched again before the server answered the UNSUBSCRIBE: the first
// SUBSCRIBE's confirmation came, then the unsubscribe's; the new SUBSCRIBE's comes next.
// Between the two, releases on that node are not delivered.
void release_notices::unconfirmed(std::size_t node, const std::string& key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) lose(node, key, it->second);
}

void release_notices::lose(std::size_t node, const std::string& key, key_state& k) {
  if (!k.confirmed[node]) return;
  k.confirmed[node] = false;
  if (!delivering(k)) engine_.notice(key, key_notice::not_delivering);
}

void release_notices::connection_changed(std::size_t node) {
  if (nodes_[node]->status().ready) return;  // confirmations come one by one
  for (auto& [key, k] : keys_)
    lose(node, key, k);
}

void release_notices::close(std::function<void()> closed) {
  closing_ = true;
  close_barrier barrier(std::move(closed));
  for (auto& n : nodes_)
    n->close(barrier.expect());
}

}  // namespace redlock::detail
