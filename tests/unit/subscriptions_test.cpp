// A subscriber connection's pushes: every shape RESP2 pub/sub sends is classified, anything
// else is refused; and the subscription set holds the server to what it confirmed.
#include "node/subscriptions.hpp"

#include <gmock/gmock.h>

#include "node/reply_reader.hpp"

namespace redlock::detail {
namespace {

using ::testing::HasSubstr;

// The one reply in `bytes`, parsed by the reader the node uses.
reply read_one_reply(const std::string& bytes) {
  reply_reader r;
  EXPECT_TRUE(r.feed(bytes));
  std::optional<reply> value = r.next();
  EXPECT_TRUE(value) << r.error();
  return value ? *value : reply{};
}

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

result<push> classify(const std::string& bytes, bool in_pubsub = true) {
  return classify_push(read_one_reply(bytes), in_pubsub);
}

TEST(ClassifyPush, Message) {
  result<push> p = classify("*3\r\n" + bulk("message") + bulk("ch") + bulk(std::string("a\0b", 3)));
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->kind, push::type::message);
  EXPECT_EQ(p->topic, subscription::channel("ch"));
  EXPECT_EQ(p->channel, "ch");
  EXPECT_EQ(p->payload, std::string("a\0b", 3));  // binary-safe
}

TEST(ClassifyPush, PatternMessage) {
  result<push> p = classify("*4\r\n" + bulk("pmessage") + bulk("ch.*") + bulk("ch.1") + bulk("hi"));
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->kind, push::type::message);
  EXPECT_EQ(p->topic, subscription::pattern("ch.*"));
  EXPECT_EQ(p->channel, "ch.1");
  EXPECT_EQ(p->payload, "hi");
}

TEST(ClassifyPush, Acknowledgements) {
  struct {
    const char* verb;
    push::type kind;
    subscription::type topic;
  } cases[] = {{"subscribe", push::type::subscribed, subscription::type::channel},
               {"psubscribe", push::type::subscribed, subscription::type::pattern},
               {"unsubscribe", push::type::unsubscribed, subscription::type::channel},
               {"punsubscribe", push::type::unsubscribed, subscription::type::pattern}};
  for (const auto& c : cases) {
    result<push> p = classify("*3\r\n" + bulk(c.verb) + bulk("x") + ":2\r\n");
    ASSERT_TRUE(p) << c.verb << ": " << p.message();
    EXPECT_EQ(p->kind, c.kind) << c.verb;
    EXPECT_EQ(p->topic, (subscription{c.topic, "x"})) << c.verb;
    EXPECT_EQ(p->count, 2) << c.verb;
  }
  // An unsubscribe that leaves none is still subscribed-mode talk.
  result<push> last = classify("*3\r\n" + bulk("unsubscribe") + bulk("x") + ":0\r\n", true);
  ASSERT_TRUE(last) << last.message();
  EXPECT_EQ(last->count, 0);
}

TEST(ClassifyPush, PongHasTheFormOfTheConnectionsContext) {
  std::string array_pong = "*2\r\n" + bulk("pong") + bulk("");
  result<push> subscribed = classify(array_pong, true);
  ASSERT_TRUE(subscribed) << subscribed.message();
  EXPECT_EQ(subscribed->kind, push::type::pong);
  result<push> plain = classify("+PONG\r\n", false);
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_EQ(plain->kind, push::type::pong);
  // The other context's form is not what this server would say.
  EXPECT_EQ(classify(array_pong, false).error(), errc::unexpected_reply);
  EXPECT_EQ(classify("+PONG\r\n", true).error(), errc::unexpected_reply);
  EXPECT_EQ(classify("*2\r\n" + bulk("pong") + bulk("x")).error(), errc::unexpected_reply);
}

TEST(ClassifyPush, ErrorRepliesFailWithTheServersWords) {
  result<push> perm =
      classify("-NOPERM this user has no permissions to access one of the channels\r\n");
  EXPECT_EQ(perm.error(), errc::config_refused);
  EXPECT_THAT(perm.message(), HasSubstr("NOPERM this user"));
  result<push> other = classify("-ERR boom\r\n");
  EXPECT_EQ(other.error(), errc::server_error);
  EXPECT_THAT(other.message(), HasSubstr("ERR boom"));
}

TEST(ClassifyPush, EveryOtherShapeIsRefused) {
  const std::string cases[] = {
      "+OK\r\n",
      ":1\r\n",
      "$-1\r\n",
      bulk("message"),
      "*0\r\n",
      "*-1\r\n",
      "*1\r\n" + bulk("message"),
      "*2\r\n" + bulk("message") + bulk("ch"),                          // no payload
      "*4\r\n" + bulk("message") + bulk("ch") + bulk("a") + bulk("b"),  // one too many
      "*3\r\n" + bulk("message") + ":1\r\n" + bulk("a"),                // channel not a string
      "*3\r\n" + bulk("message") + bulk("ch") + "$-1\r\n",              // nil payload
      "*3\r\n" + bulk("message") + bulk("ch") + "*1\r\n" + bulk("a"),   // nested payload
      "*3\r\n" + bulk("Message") + bulk("ch") + bulk("a"),              // case matters
      "*3\r\n" + bulk("pmessage") + bulk("p*") + bulk("a"),             // pmessage needs 4
      "*3\r\n" + bulk("subscribe") + bulk("ch") + bulk("1"),            // count not an integer
      "*3\r\n" + bulk("subscribe") + bulk("ch") + ":-1\r\n",            // negative count
      "*3\r\n" + bulk("unsubscribe") + "$-1\r\n" + ":0\r\n",            // nil channel
      "*2\r\n" + bulk("subscribe") + bulk("ch"),                        // no count
      "*3\r\n" + bulk("ssubscribe") + bulk("ch") + ":1\r\n",            // not asked for, ever
      "*3\r\n" + bulk("smessage") + bulk("ch") + bulk("a"),
      "*3\r\n:1\r\n" + bulk("ch") + bulk("a"),  // kind not a string
  };
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    result<push> p = classify(cases[i]);
    EXPECT_EQ(p.error(), errc::unexpected_reply) << "case " << i << ": " << cases[i];
    EXPECT_THAT(p.message(), HasSubstr("not a pub/sub push")) << "case " << i;
  }
}

push ack(push::type kind, subscription topic, long long count) {
  push p;
  p.kind = kind;
  p.topic = std::move(topic);
  p.count = count;
  return p;
}

push message(subscription through, std::string channel) {
  push p;
  p.kind = push::type::message;
  p.topic = std::move(through);
  p.channel = std::move(channel);
  p.payload = "x";
  return p;
}

TEST(SubscriptionSet, DeliversWhatIsConfirmedAndWanted) {
  subscription_set s;
  subscription a = subscription::channel("a");
  subscription p = subscription::pattern("a*");
  s.want(a);
  s.want(p);
  EXPECT_FALSE(s.in_pubsub());
  EXPECT_EQ(*s.accept(ack(push::type::subscribed, a, 1)), true);  // tell the owner
  EXPECT_TRUE(s.in_pubsub());
  EXPECT_EQ(*s.accept(ack(push::type::subscribed, p, 2)), true);
  EXPECT_EQ(*s.accept(message(a, "a")), true);
  EXPECT_EQ(*s.accept(message(p, "a1")), true);
  EXPECT_EQ(*s.accept(ack(push::type::subscribed, a, 2)), true);  // again: confirmed again
}

TEST(SubscriptionSet, AMessageJustAfterUnsubscribingIsDroppedNotFailed) {
  subscription_set s;
  subscription a = subscription::channel("a");
  s.want(a);
  ASSERT_TRUE(s.accept(ack(push::type::subscribed, a, 1)));
  EXPECT_TRUE(s.unwant(a));
  EXPECT_FALSE(s.unwant(a));
  result<bool> late = s.accept(message(a, "a"));  // published before the server unsubscribed
  ASSERT_TRUE(late) << late.message();
  EXPECT_FALSE(*late);
  result<bool> gone = s.accept(ack(push::type::unsubscribed, a, 0));
  ASSERT_TRUE(gone) << gone.message();
  EXPECT_FALSE(*gone);
  EXPECT_FALSE(s.in_pubsub());
  // Now the server has no subscription through which it could send one.
  EXPECT_EQ(s.accept(message(a, "a")).error(), errc::unexpected_reply);
}

TEST(SubscriptionSet, AConfirmationOfWhatIsNoLongerWantedIsNotTold) {
  subscription_set s;
  subscription a = subscription::channel("a");
  s.want(a);
  s.unwant(a);  // before the server answered the SUBSCRIBE
  result<bool> confirmed = s.accept(ack(push::type::subscribed, a, 1));
  ASSERT_TRUE(confirmed) << confirmed.message();
  EXPECT_FALSE(*confirmed);
}

TEST(SubscriptionSet, RefusesMessagesThroughUnconfirmedSubscriptions) {
  subscription_set s;
  s.want(subscription::channel("a"));
  result<bool> early = s.accept(message(subscription::channel("a"), "a"));  // before its ack
  EXPECT_EQ(early.error(), errc::unexpected_reply);
  EXPECT_THAT(early.message(), HasSubstr("channel 'a'"));
  ASSERT_TRUE(s.accept(ack(push::type::subscribed, subscription::channel("a"), 1)));
  // A channel is not the pattern of the same name.
  EXPECT_EQ(s.accept(message(subscription::pattern("a"), "a")).error(), errc::unexpected_reply);
  EXPECT_EQ(s.accept(message(subscription::channel("b"), "b")).error(), errc::unexpected_reply);
}

TEST(SubscriptionSet, RefusesACountThatIsNotWhatThisConnectionMade) {
  subscription_set s;
  s.want(subscription::channel("a"));
  result<bool> wrong = s.accept(ack(push::type::subscribed, subscription::channel("a"), 3));
  EXPECT_EQ(wrong.error(), errc::unexpected_reply);
  EXPECT_THAT(wrong.message(), HasSubstr("counts 3"));
}

TEST(SubscriptionSet, ALostConnectionForgetsWhatTheServerConfirmedNotWhatIsWanted) {
  subscription_set s;
  subscription a = subscription::channel("a");
  s.want(a);
  ASSERT_TRUE(s.accept(ack(push::type::subscribed, a, 1)));
  s.connection_lost();
  EXPECT_FALSE(s.in_pubsub());
  EXPECT_TRUE(s.wants(a));
  EXPECT_EQ(s.wanted().size(), 1u);
  EXPECT_EQ(s.accept(message(a, "a")).error(), errc::unexpected_reply);
  EXPECT_EQ(*s.accept(ack(push::type::subscribed, a, 1)), true);  // the new connection's count
}

}  // namespace
}  // namespace redlock::detail
