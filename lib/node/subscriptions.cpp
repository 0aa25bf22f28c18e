#include "node/subscriptions.hpp"

namespace redlock::detail {

namespace {

bool is_string(const reply& r) {
  return r.kind == reply::type::string;
}

result<push> not_a_push(const reply& value) {
  return {errc::unexpected_reply, "not a pub/sub push: " + value.describe()};
}

}  // namespace

std::string subscription::describe() const {
  return (kind == type::channel ? "channel '" : "pattern '") + name + "'";
}

result<push> classify_push(const reply& value, bool in_pubsub) {
  if (value.is_error()) {
    return {refuses_configuration(value.text) ? errc::config_refused : errc::server_error,
            "refused on the subscriber connection: " + value.text};
  }
  if (value.is_status("PONG") && !in_pubsub) return push{};
  if (value.kind != reply::type::array || value.elements.empty() || !is_string(value.elements[0])) {
    return not_a_push(value);
  }
  const std::vector<reply>& e = value.elements;
  const std::string& kind = e[0].text;
  push p;
  if (kind == "message" && e.size() == 3 && is_string(e[1]) && is_string(e[2])) {
    p.kind = push::type::message;
    p.topic = subscription::channel(e[1].text);
    p.channel = e[1].text;
    p.payload = e[2].text;
    return p;
  }
  if (kind == "pmessage" && e.size() == 4 && is_string(e[1]) && is_string(e[2]) &&
      is_string(e[3])) {
    p.kind = push::type::message;
    p.topic = subscription::pattern(e[1].text);
    p.channel = e[2].text;
    p.payload = e[3].text;
    return p;
  }
  if (kind == "pong" && e.size() == 2 && is_string(e[1]) && e[1].text.empty() && in_pubsub) {
    return p;
  }
  bool subscribed = kind == "subscribe" || kind == "psubscribe";
  bool unsubscribed = kind == "unsubscribe" || kind == "punsubscribe";
  if ((subscribed || unsubscribed) && e.size() == 3 && is_string(e[1]) &&
      e[2].kind == reply::type::integer && e[2].integer >= 0) {
    p.kind = subscribed ? push::type::subscribed : push::type::unsubscribed;
    p.topic = {kind[0] == 'p' ? subscription::type::pattern : subscription::type::channel,
               e[1].text};
    p.count = e[2].integer;
    return p;
  }
  return not_a_push(value);
}

result<bool> subscription_set::accept(const push& p) {
  switch (p.kind) {
    case push::type::message:
      if (confirmed_.count(p.topic) == 0) {
        return {errc::unexpected_reply, "a message through " + p.topic.describe() +
                                            ", which this connection is not " + "subscribed to"};
      }
      return wants(p.topic);
    case push::type::subscribed:
    case push::type::unsubscribed:
      if (p.kind == push::type::subscribed) {
        confirmed_.insert(p.topic);
      } else {
        confirmed_.erase(p.topic);
      }
      if (static_cast<std::size_t>(p.count) != confirmed_.size()) {
        return {errc::unexpected_reply, "the server counts " + std::to_string(p.count) +
                                            " subscriptions after " + p.topic.describe() +
                                            ", this connection made " +
                                            std::to_string(confirmed_.size())};
      }
      return p.kind == push::type::subscribed && wants(p.topic);
    case push::type::pong:
      break;
  }
  return false;
}

}  // namespace redlock::detail
