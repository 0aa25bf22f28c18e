// A node in subscriber mode, on a loop run by the test's own thread: messages published on a
// real server reach the listener in order once the subscription is confirmed; subscriptions
// come back after a restart; unsubscribing stops delivery; a paused server is found out by the
// keep-alive; and a scripted fake server's hostile pushes fail only that connection, which
// recovers, while a subscriber on a real server beside it is untouched.
#include <gmock/gmock.h>
#include <uv.h>

#include <atomic>
#include <list>
#include <memory>

#include "endpoint.hpp"
#include "fixture.hpp"
#include "loop_runner.hpp"
#include "node/node.hpp"
#include "scripted_server.hpp"

namespace redlock::testing {
namespace {

using detail::push;
using detail::subscription;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One node and what its listeners heard.
struct subscriber {
  std::unique_ptr<detail::node> node;
  std::vector<push> messages;
  std::vector<subscription> confirmed;
  std::vector<subscription> unconfirmed;
  bool inside_call = false;  // set around subscribe() and send(): no listener may run then
  int listener_ran_inside_call = 0;

  bool ready() const { return node->status().ready; }
  node_health health() const { return node->health(); }
  // The payloads of the messages that came through `topic`, in order.
  std::vector<std::string> payloads(const subscription& topic) const {
    std::vector<std::string> out;
    for (const push& m : messages)
      if (m.topic == topic) out.push_back(m.payload);
    return out;
  }
  void subscribe(const subscription& s) {
    inside_call = true;
    result<void> done = node->subscribe(s);
    inside_call = false;
    EXPECT_TRUE(done) << done.message();
  }
};

// The test's loop (tests/support/loop_runner.hpp) with its subscriber nodes, closed first.
class test_loop : public loop_runner {
 public:
  test_loop() = default;
  ~test_loop() {
    std::size_t open = nodes_.size();
    for (subscriber& s : nodes_)
      s.node->close([&] { --open; });
    run_until([&] { return open == 0; });
  }
  test_loop(const test_loop&) = delete;
  test_loop& operator=(const test_loop&) = delete;

  // A node on `url`, started; `adjust` may change its configuration first.
  subscriber& add(const std::string& url,
                  const std::function<void(detail::node_config&)>& adjust = {}) {
    client_options o;
    o.node_timeout = milliseconds(500);
    o.connect_timeout = milliseconds(2000);
    o.reconnect_min = milliseconds(10);
    o.reconnect_max = milliseconds(200);
    result<detail::endpoint> where = detail::parse_endpoint(url);
    EXPECT_TRUE(where) << where.message();
    detail::node_config config = detail::node_config::from(*where, o, 1, nullptr);
    config.subscriber = true;
    if (adjust) adjust(config);
    subscriber& s = nodes_.emplace_back();
    s.node = std::make_unique<detail::node>(loop(), services(), clock(), std::move(config));
    s.node->on_push({[&s](const push& m) {
                       s.listener_ran_inside_call += s.inside_call ? 1 : 0;
                       s.messages.push_back(m);
                     },
                     [&s](const subscription& confirmed) {
                       s.listener_ran_inside_call += s.inside_call ? 1 : 0;
                       s.confirmed.push_back(confirmed);
                     },
                     [&s](const subscription& dropped) {
                       s.listener_ran_inside_call += s.inside_call ? 1 : 0;
                       s.unconfirmed.push_back(dropped);
                     }});
    s.node->start();
    return s;
  }

 private:
  std::list<subscriber> nodes_;  // a list: listeners keep references to its elements
};

class SubscriberTest : public fleet_test {
 protected:
  void publish(const std::string& channel, const std::string& payload) {
    reply r = fleet->call(0, {"PUBLISH", channel, payload});
    ASSERT_FALSE(r.is_error()) << r.str;
  }
  // How many connections the server counts subscribed to `channel` (PUBSUB NUMSUB).
  std::string subscribers_of(const std::string& channel) {
    reply r = fleet->call(0, {"PUBSUB", "NUMSUB", channel});
    return r.elements.size() == 2 ? r.elements[1].render() : r.render();
  }
  // How many PINGs the server has run (INFO commandstats).
  long long pings_run() {
    std::string stats = fleet->command(0, {"INFO", "commandstats"});
    std::size_t at = stats.find("cmdstat_ping:calls=");
    return at == std::string::npos ? 0 : std::stoll(stats.substr(at + 19));
  }

  test_loop loop;
};

const subscription news = subscription::channel("news");

TEST_F(SubscriberTest, MessagesArriveInOrderOnceTheSubscriptionIsConfirmed) {
  start_fleet(1);
  subscriber& s = loop.add(fleet->url(0));
  const subscription all = subscription::pattern("new*");
  s.subscribe(news);  // before the connection is up: sent once it is
  s.subscribe(all);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 2; })) << s.health().last_error;
  EXPECT_THAT(s.confirmed, ElementsAre(news, all));
  // Confirmed: what is published from now on reaches us.
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back("m" + std::to_string(i));
    publish("news", sent.back());
  }
  publish("newt", "pattern only");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 401; })) << s.messages.size();
  EXPECT_EQ(s.payloads(news), sent);
  std::vector<std::string> through_pattern = sent;
  through_pattern.push_back("pattern only");
  EXPECT_EQ(s.payloads(all), through_pattern);
  EXPECT_EQ(s.messages.back().channel, "newt");
  // Subscribing while connected: confirmed later, from the loop, never inside the call.
  const subscription later = subscription::channel("later");
  s.subscribe(later);
  EXPECT_EQ(s.confirmed.size(), 2u);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 3; }));
  EXPECT_EQ(s.confirmed.back(), later);
  publish("later", "x");
  ASSERT_TRUE(loop.run_until([&] { return s.payloads(later).size() == 1; }));
  EXPECT_EQ(s.listener_ran_inside_call, 0);
  EXPECT_EQ(s.health().reconnects, 0u);
}

TEST_F(SubscriberTest, SubscriptionsComeBackAfterARestartAndMessagesFlowAgain) {
  start_fleet(1);
  subscriber& s = loop.add(fleet->url(0));
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 1; }));
  publish("news", "before");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 1; }));
  fleet->restart(0);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 2; }))
      << "not subscribed again: " << s.health().last_error;
  EXPECT_EQ(s.health().reconnects, 1u);
  EXPECT_EQ(subscribers_of("news"), "1");
  publish("news", "after");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 2; }));
  EXPECT_THAT(s.payloads(news), ElementsAre("before", "after"));
}

TEST_F(SubscriberTest, UnsubscribingStopsDelivery) {
  start_fleet(1);
  subscriber& s = loop.add(fleet->url(0));
  const subscription other = subscription::channel("other");
  s.subscribe(news);
  s.subscribe(other);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 2; }));
  ASSERT_TRUE(s.node->unsubscribe(news));
  // Published before the server may have run the UNSUBSCRIBE: still not delivered.
  publish("news", "dropped");
  publish("other", "1");
  ASSERT_TRUE(
      loop.run_until([&] { return s.messages.size() == 1 && subscribers_of("news") == "0"; }));
  publish("news", "dropped");
  publish("other", "2");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 2; }));
  loop.run_for(milliseconds(50));
  EXPECT_TRUE(s.payloads(news).empty());
  EXPECT_THAT(s.payloads(other), ElementsAre("1", "2"));
  EXPECT_EQ(subscribers_of("other"), "1");
  EXPECT_TRUE(s.node->unsubscribe(news));  // not subscribed: nothing to do
  EXPECT_EQ(s.health().reconnects, 0u);
}

// Subscribed, unsubscribed and subscribed again before the server answered: the first
// confirmation is told, then that the unsubscribe undid it, then the new confirmation, and
// the channel delivers afterwards.
TEST_F(SubscriberTest, SubscribingAgainBeforeTheUnsubscribeIsAnsweredIsConfirmedAgain) {
  start_fleet(1);
  subscriber& s = loop.add(fleet->url(0));
  ASSERT_TRUE(loop.run_until([&] { return s.ready(); }));
  s.subscribe(news);
  ASSERT_TRUE(s.node->unsubscribe(news));
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 2; }));
  EXPECT_THAT(s.unconfirmed, ElementsAre(news));
  EXPECT_EQ(subscribers_of("news"), "1");
  publish("news", "after");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 1; }));
  EXPECT_THAT(s.payloads(news), ElementsAre("after"));
  EXPECT_EQ(s.listener_ran_inside_call, 0);
  EXPECT_EQ(s.health().reconnects, 0u);
}

// A silent connection cannot be told from a dead one: after `keepalive` of silence the node
// sends a PING, and recycles the connection when its pong is not in within node_timeout.
TEST_F(SubscriberTest, TheKeepAliveFindsAPausedServerAndTheSubscriptionComesBack) {
  start_fleet(1);
  const milliseconds node_timeout(300);
  const milliseconds keepalive(100);
  subscriber& s = loop.add(fleet->url(0), [&](detail::node_config& c) {
    c.node_timeout = node_timeout;
    c.keepalive = keepalive;
  });
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 1; }));
  // Idle but alive: pings are answered and the connection stays.
  long long pings_before = pings_run();
  loop.run_for(milliseconds(1000));
  EXPECT_TRUE(s.ready());
  EXPECT_EQ(s.health().reconnects, 0u);
  EXPECT_GE(pings_run() - pings_before, 3) << "no keep-alive PINGs in 10 keep-alive intervals";

  fleet->pause(0);
  auto paused_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(loop.run_until([&] { return !s.ready(); }));
  auto noticed = std::chrono::steady_clock::now() - paused_at;
  EXPECT_THAT(s.health().last_error, HasSubstr("no reply within 300 ms"));
  // At most one keep-alive interval to the PING, node_timeout to its deadline; generous bounds.
  EXPECT_GE(noticed, node_timeout - keepalive);
  EXPECT_LT(noticed, keepalive + node_timeout + milliseconds(1500));

  fleet->resume(0);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 2; })) << s.health().last_error;
  publish("news", "back");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 1; }));
  EXPECT_EQ(s.messages[0].payload, "back");
}

// A server that refuses the subscription for good (NOPERM: the ACL grants no channel) is not
// asked again every reconnect_max (200 ms here) but after refused_backoff: the connection
// does not churn while the ACL stays as it is.
TEST_F(SubscriberTest, ARefusedSubscriptionIsNotRetriedAtTheReconnectPace) {
  node_options n;
  n.acl_users = {"user nochannels on >pw ~* resetchannels +@all"};
  start_fleet(1, n);
  std::string url = "redis://nochannels:pw@127.0.0.1:" + std::to_string(fleet->port(0));
  subscriber& s =
      loop.add(url, [](detail::node_config& c) { c.refused_backoff = milliseconds(3000); });
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.node->status().last_error == errc::config_refused; }));
  EXPECT_THAT(s.health().last_error, HasSubstr("NOPERM"));
  loop.run_for(milliseconds(1000));  // five reconnect_max periods
  EXPECT_EQ(s.health().reconnects, 0u);
  EXPECT_TRUE(s.confirmed.empty());
  // Within refused_backoff (the wait is drawn from its second half) it asks again, and is
  // refused again.
  ASSERT_TRUE(loop.run_until([&] { return s.health().reconnects >= 1; }, milliseconds(4000)));
}

// With nothing subscribed the server answers PING with +PONG instead of ["pong", ""]: both
// are accepted, each in its context.
TEST_F(SubscriberTest, TheKeepAliveWorksWithAndWithoutSubscriptions) {
  start_fleet(1);
  subscriber& s =
      loop.add(fleet->url(0), [](detail::node_config& c) { c.keepalive = milliseconds(50); });
  long long pings_before = pings_run();
  loop.run_for(milliseconds(300));  // never subscribed
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 1; }));
  loop.run_for(milliseconds(300));  // subscribed
  ASSERT_TRUE(s.node->unsubscribe(news));
  ASSERT_TRUE(loop.run_until([&] { return subscribers_of("news") == "0"; }));
  loop.run_for(milliseconds(300));  // no longer subscribed
  EXPECT_TRUE(s.ready()) << s.health().last_error;
  EXPECT_EQ(s.health().reconnects, 0u) << s.health().last_error;
  EXPECT_GE(pings_run() - pings_before, 6);
}

TEST_F(SubscriberTest, MessagesArriveOverTls) {
  REDLOCK_REQUIRE_OR_SKIP(tls_unavailable_reason());
  node_options tls;
  tls.tls = true;
  start_fleet(1, tls);
  tls_options trust;
  trust.ca_file = fleet->certs().ca_cert;
  result<std::shared_ptr<detail::tls_context>> context = detail::tls_context::create(trust);
  ASSERT_TRUE(context) << context.message();
  subscriber& s =
      loop.add(fleet->tls_url(0), [&](detail::node_config& c) { c.tls = std::move(*context); });
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] { return s.confirmed.size() == 1; }, milliseconds(10000)))
      << s.health().last_error;
  publish("news", "sealed");
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 1; }));
  EXPECT_EQ(s.messages[0].payload, "sealed");
}

TEST_F(SubscriberTest, ASubscriberTakesNoCommandsAndACommandNodeNoSubscriptions) {
  start_fleet(1);
  subscriber& s = loop.add(fleet->url(0));
  auto cmd = std::make_shared<detail::command>();
  cmd->wire = detail::encode_command({"GET", "k"});
  std::optional<detail::node_answer> answer;
  s.inside_call = true;
  s.node->send(
      cmd, [&](detail::node_answer a) { answer = std::move(a); }, milliseconds(0));
  s.inside_call = false;
  EXPECT_FALSE(answer);  // never inside send()
  ASSERT_TRUE(loop.run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(answer->error, errc::invalid_option);
  EXPECT_FALSE(answer->maybe_ran);

  subscriber& plain = loop.add(fleet->url(0), [](detail::node_config& c) { c.subscriber = false; });
  result<void> refused = plain.node->subscribe(news);
  EXPECT_EQ(refused.error(), errc::invalid_option);
  EXPECT_THAT(refused.message(), HasSubstr("not a subscriber connection"));
  EXPECT_EQ(plain.node->unsubscribe(news).error(), errc::invalid_option);
}

// ---- hostile pushes -------------------------------------------------------------------------

std::string bulk(const std::string& s) {
  return resp_bulk(s);
}
const std::string news_ack = "*3\r\n" + bulk("subscribe") + bulk("news") + resp_int(1);

// Answers like a well-behaved subscribed Redis: acknowledges the SUBSCRIBE, publishes
// "after" on it, answers PINGs, until the client goes away.
void behave(scripted_connection& c) {
  c.send(news_ack + "*3\r\n" + bulk("message") + bulk("news") + bulk("after"));
  std::optional<std::vector<std::string>> cmd;
  while ((cmd = c.read_command(std::chrono::seconds(30))) && !cmd->empty()) {
    if ((*cmd)[0] == "PING") c.send("*2\r\n" + bulk("pong") + bulk(""));
  }
}

struct hostile_push {
  const char* name;
  std::string bytes;   // sent once the SUBSCRIBE has come
  const char* detail;  // part of the node's last error
};

void PrintTo(const hostile_push& p, std::ostream* os) {
  *os << p.name;
}

class HostilePushTest : public SubscriberTest,
                        public ::testing::WithParamInterface<hostile_push> {};

TEST_P(HostilePushTest, FailsOnlyThatConnectionWhichRecovers) {
  const hostile_push& hp = GetParam();
  std::atomic<int> connection{0};
  std::atomic<bool> subscribe_seen{false};
  scripted_server server([&](scripted_connection& c) {
    std::vector<std::string> first = c.serve_handshake();
    if (first.size() != 2 || first[0] != "SUBSCRIBE" || first[1] != "news") return;
    subscribe_seen = true;
    if (connection.fetch_add(1) > 0) {
      behave(c);
      return;
    }
    c.send(hp.bytes);
    c.peer_closed(std::chrono::seconds(30));  // until the client gives up on this connection
  });
  start_fleet(1);
  subscriber& real = loop.add(fleet->url(0));
  subscriber& s = loop.add(server.url());
  real.subscribe(news);
  s.subscribe(news);
  ASSERT_TRUE(loop.run_until([&] {
    return s.health().last_error.find(hp.detail) != std::string::npos;
  })) << "the hostile connection was not failed with '"
      << hp.detail << "', last error: " << s.health().last_error;
  EXPECT_TRUE(subscribe_seen);
  // It reconnects, subscribes again, and the next connection's message arrives.
  ASSERT_TRUE(loop.run_until([&] { return s.messages.size() == 1; })) << s.health().last_error;
  EXPECT_EQ(s.messages[0].payload, "after");
  EXPECT_GE(s.health().reconnects, 1u);
  EXPECT_EQ(s.confirmed.back(), news);
  // The subscriber on the real server beside it never noticed.
  publish("news", "real");
  ASSERT_TRUE(loop.run_until([&] { return real.messages.size() == 1; }));
  EXPECT_EQ(real.messages[0].payload, "real");
  EXPECT_EQ(real.health().reconnects, 0u);
  EXPECT_TRUE(real.ready());
}

INSTANTIATE_TEST_SUITE_P(
    Pushes, HostilePushTest,
    ::testing::Values(
        hostile_push{"MessageBeforeTheAck", "*3\r\n" + bulk("message") + bulk("news") + bulk("hi"),
                     "which this connection is not subscribed to"},
        hostile_push{"MessageOnAnotherChannel",
                     news_ack + "*3\r\n" + bulk("message") + bulk("other") + bulk("hi"),
                     "channel 'other', which this connection is not subscribed to"},
        hostile_push{"MessageWithoutPayload", news_ack + "*2\r\n" + bulk("message") + bulk("news"),
                     "not a pub/sub push"},
        hostile_push{"PayloadOfWrongType",
                     news_ack + "*3\r\n" + bulk("message") + bulk("news") + resp_int(7),
                     "not a pub/sub push"},
        hostile_push{"AckNobodyAskedFor",
                     news_ack + "*3\r\n" + bulk("subscribe") + bulk("other") + resp_int(2),
                     "a pub/sub push nobody asked for"},
        hostile_push{"AckWithAWrongCount",
                     "*3\r\n" + bulk("subscribe") + bulk("news") + resp_int(5),
                     "the server counts 5 subscriptions"},
        hostile_push{"PongNobodyAskedFor", news_ack + "*2\r\n" + bulk("pong") + bulk(""),
                     "a pub/sub push nobody asked for"},
        hostile_push{"PlainReply", news_ack + resp_ok(), "not a pub/sub push: OK"},
        hostile_push{"ErrorReply", resp_error("ERR boom"),
                     "refused on the subscriber connection: ERR boom"},
        hostile_push{"Resp3Push", news_ack + ">3\r\n" + bulk("message") + bulk("news") + bulk("hi"),
                     "protocol error"},
        hostile_push{"HugeBulk",
                     news_ack + "*3\r\n" + bulk("message") + bulk("news") + "$1000000000\r\n" +
                         std::string(2 << 20, 'x'),
                     "reply larger than 1 MiB"}),
    [](const auto& test) { return std::string(test.param.name); });

}  // namespace
}  // namespace redlock::testing
