// subscriptions: the pub/sub side of a subscriber node. What a subscribed connection receives
// is classified into pushes (classify_push), and subscription_set keeps what the node's owner
// wants (across reconnects) apart from what the server confirmed on the current connection.
//
// In RESP2 a subscribed connection receives arrays that are not 1:1 with requests:
//   message <channel> <payload>              a message on a channel we subscribed to
//   pmessage <pattern> <channel> <payload>   a message through a pattern we subscribed to
//   subscribe|psubscribe <name> <count>      one per channel (pattern) of a (P)SUBSCRIBE
//   unsubscribe|punsubscribe <name> <count>  one per channel (pattern) of a (P)UNSUBSCRIBE
//   pong ""                                  PING, while at least one subscription is active
// and +PONG to PING while none is. Anything else is not a push: the connection is failed.
//
// Pure (no I/O, no clock), loop thread only.
#pragma once

#include <set>
#include <string>
#include <tuple>

#include "redlock/result.hpp"
#include "resp.hpp"

namespace redlock::detail {

// A channel (SUBSCRIBE) or a glob-style pattern (PSUBSCRIBE).
struct subscription {
  enum class type { channel, pattern };
  type kind = type::channel;
  std::string name;

  static subscription channel(std::string name) { return {type::channel, std::move(name)}; }
  static subscription pattern(std::string name) { return {type::pattern, std::move(name)}; }
  // "channel 'x'" or "pattern 'x*'", for messages.
  std::string describe() const;
  friend bool operator<(const subscription& a, const subscription& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  }
  friend bool operator==(const subscription& a, const subscription& b) {
    return a.kind == b.kind && a.name == b.name;
  }
  friend bool operator!=(const subscription& a, const subscription& b) { return !(a == b); }
};

// One thing a subscribed connection received.
struct push {
  enum class type { message, subscribed, unsubscribed, pong };
  type kind = type::pong;
  // message: what it came through (the channel, or the pattern that matched it);
  // subscribed / unsubscribed: what the server (un)subscribed.
  subscription topic;
  std::string channel;  // message: the channel it was published on
  std::string payload;  // message: binary-safe
  long long count = 0;  // subscribed / unsubscribed: the connection's subscriptions after it
};

// What `value` is on a subscribed connection. `in_pubsub`: whether the server has confirmed at
// least one subscription on it (PING is then answered ["pong", ""], otherwise +PONG).
// Failures: config_refused for an error reply refusing our credentials or permissions
// (NOPERM on a channel), server_error for another error reply, unexpected_reply for anything
// of another shape or type; the message names what came.
result<push> classify_push(const reply& value, bool in_pubsub);

class subscription_set {
 public:
  // The owner's side, kept across connections: what every new connection subscribes to.
  void want(const subscription& s) { wanted_.insert(s); }
  // Whether it was wanted.
  bool unwant(const subscription& s) { return wanted_.erase(s) > 0; }
  bool wants(const subscription& s) const { return wanted_.count(s) > 0; }
  const std::set<subscription>& wanted() const { return wanted_; }

  // The server's side, on the current connection.
  bool in_pubsub() const { return !confirmed_.empty(); }
  void connection_lost() { confirmed_.clear(); }
  // Checks a message or a (un)subscribe acknowledgement against what the server confirmed
  // so far, and records the acknowledgement. True when the owner should hear of it: a message
  // or a subscribe confirmation for something still wanted (a message for something the owner
  // has just unsubscribed from may still come, and is dropped). Fails (unexpected_reply) on a
  // message through a subscription the server never confirmed on this connection, and on an
  // acknowledgement whose count is not the number of subscriptions the server has confirmed.
  // Pongs are accepted as they are (the node matches them to its PINGs).
  result<bool> accept(const push& p);

 private:
  std::set<subscription> wanted_;
  std::set<subscription> confirmed_;
};

}  // namespace redlock::detail
