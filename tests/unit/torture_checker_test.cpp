// The torture checker on crafted histories: each kind of violation it must find, and the
// histories it must pass (back-to-back claims, claims ended early, unknown outcomes).
// Times are written in milliseconds on the histories' clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <ostream>

#include "checker.hpp"

namespace redlock::torture {

// Findings print as their descriptions in failure messages.
void PrintTo(const overlap& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const fence_inversion& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const lost_update& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const stale_write& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const unsafe_resume& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const budget_overrun& f, std::ostream* os) {
  *os << f.describe();
}
void PrintTo(const liveness_gap& f, std::ostream* os) {
  *os << f.describe();
}

namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

time_point ms(std::int64_t v) {
  return from_nanos(v * 1'000'000);
}

// Builds a history; call ids are per client and counted from 1.
class history_builder {
 public:
  std::vector<record> records;

  // An acquire invoked at `invoked`, granted at `granted`; returns the call id.
  std::uint64_t grant(const std::string& client, std::vector<std::string> resources,
                      std::int64_t invoked, std::int64_t granted, std::int64_t valid_until,
                      const std::string& token, std::optional<std::uint64_t> fence = {},
                      std::int64_t ttl = 500, std::int64_t wait = 0) {
    std::uint64_t id = invoke_acquire(client, std::move(resources), invoked, ttl, wait, fence);
    records.push_back({ms(granted), client, success{id, token, ms(valid_until), fence, ""}});
    return id;
  }
  std::uint64_t invoke_acquire(const std::string& client, std::vector<std::string> resources,
                               std::int64_t invoked, std::int64_t ttl = 500, std::int64_t wait = 0,
                               std::optional<std::uint64_t> fence = {}) {
    invocation call = acquire_call(next(client), std::move(resources), milliseconds(ttl),
                                   milliseconds(wait), fence.has_value());
    records.push_back({ms(invoked), client, call});
    return call.call;
  }
  void refuse(const std::string& client, std::uint64_t call, std::int64_t t,
              const std::string& error = "held_elsewhere") {
    records.push_back({ms(t), client, failure{call, error, "refused", std::nullopt}});
  }
  std::uint64_t invoke(const std::string& client, op o, const std::string& token,
                       std::int64_t invoked, std::int64_t ttl = 0) {
    invocation call;
    call.call = next(client);
    call.op = o;
    call.token = token;
    call.ttl = milliseconds(ttl);
    records.push_back({ms(invoked), client, call});
    return call.call;
  }
  void extend_ok(const std::string& client, const std::string& token, std::int64_t invoked,
                 std::int64_t done, std::int64_t valid_until, std::int64_t ttl = 500) {
    std::uint64_t id = invoke(client, op::extend, token, invoked, ttl);
    records.push_back({ms(done), client, success{id, "", ms(valid_until), std::nullopt, ""}});
  }
  void extend_failed(const std::string& client, const std::string& token, std::int64_t invoked,
                     std::int64_t done, std::optional<std::int64_t> valid_until,
                     const std::string& error = "lock_lost", op o = op::extend) {
    std::uint64_t id = invoke(client, o, token, invoked, o == op::extend ? 500 : 0);
    std::optional<time_point> until;
    if (valid_until) until = ms(*valid_until);
    records.push_back({ms(done), client, failure{id, error, "", until}});
  }
  void release(const std::string& client, const std::string& token, std::int64_t invoked,
               std::optional<std::int64_t> done) {
    std::uint64_t id = invoke(client, op::release, token, invoked);
    if (done) records.push_back({ms(*done), client, success{id, "", {}, {}, ""}});
  }
  void lost(const std::string& client, const std::string& token, std::int64_t t) {
    records.push_back({ms(t), client, lost_signal{token, "margin_reached"}});
  }
  void write(const std::string& client, const std::string& token, const std::string& resource,
             std::int64_t t, std::int64_t read, std::optional<std::uint64_t> fence = {},
             bool accepted = true, std::optional<std::int64_t> sent = {}) {
    std::optional<time_point> sent_at;
    if (sent) sent_at = ms(*sent);
    records.push_back(
        {ms(t), client, effect{token, resource, read, read + 1, fence, accepted, sent_at}});
  }

 private:
  std::uint64_t next(const std::string& client) { return ++ids_[client]; }
  std::map<std::string, std::uint64_t> ids_;
};

report run(const history_builder& h, check_options o = {}) {
  return check(h.records, o);
}

auto overlap_of(const std::string& resource, const std::string& first, const std::string& second,
                double overlap_ms) {
  return AllOf(Field(&overlap::resource, resource),
               Field(&overlap::first, Field(&claim::token, first)),
               Field(&overlap::second, Field(&claim::token, second)),
               Field(&overlap::overlap_ms, DoubleEq(overlap_ms)));
}

void expect_clean(const report& r) {
  EXPECT_EQ(r.violations(), 0u) << ::testing::PrintToString(r.descriptions());
  EXPECT_EQ(r.liveness_failures(), 0u) << ::testing::PrintToString(r.descriptions());
  EXPECT_EQ(r.history_errors(), 0u) << ::testing::PrintToString(r.descriptions());
}

// ---- rule 1: claims ----

TEST(TortureChecker, TwoKnownGrantsThatOverlapAreAViolation) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.grant("c2", {"r1"}, 150, 200, 700, "b");
  report r = run(h);
  EXPECT_THAT(r.overlaps, ElementsAre(overlap_of("r1", "a", "b", 300.0)));
  EXPECT_EQ(r.overlaps[0].from, ms(200));
  EXPECT_EQ(r.overlaps[0].to, ms(500));
  EXPECT_EQ(r.violations(), 1u);
  EXPECT_EQ(r.grants(), 2u);
  EXPECT_THAT(r.overlaps[0].describe(),
              AllOf(StartsWith("overlap on \"r1\" for 300.000 ms"), HasSubstr("\"a\" of \"c1\""),
                    HasSubstr("\"b\" of \"c2\"")));
}

TEST(TortureChecker, AGrantWhileAnothersValidityHadNotPassedIsAViolation) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.release("c1", "a", 600, 610);  // released only after its validity: the claim ends at 500
  h.grant("c2", {"r1"}, 400, 450, 950, "b");
  report r = run(h);
  EXPECT_THAT(r.overlaps, ElementsAre(overlap_of("r1", "a", "b", 50.0)));
  EXPECT_EQ(r.overlaps[0].first.ended_by, claim_end::valid_until);
}

TEST(TortureChecker, AnExtendThatMovesValidityLaterCanOverlapTheNextGrant) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.grant("c2", {"r1"}, 600, 700, 1200, "b");
  expect_clean(run(h));  // without the extend, back to back

  h.extend_ok("c1", "a", 390, 400, 1000);
  report r = run(h);
  EXPECT_THAT(r.overlaps, ElementsAre(overlap_of("r1", "a", "b", 300.0)));
}

TEST(TortureChecker, OnlyTheSharedResourceOfTwoLocksOverlaps) {
  history_builder h;
  h.grant("c1", {"r1", "r2"}, 0, 10, 500, "a");
  h.grant("c2", {"r2", "r3"}, 100, 110, 600, "b");
  h.grant("c3", {"r1"}, 500, 510, 900, "c");
  report r = run(h);
  EXPECT_THAT(r.overlaps, ElementsAre(overlap_of("r2", "a", "b", 390.0)));
  EXPECT_EQ(r.grants(), 3u);
  EXPECT_THAT(r.model.claims, SizeIs(5));
}

TEST(TortureChecker, BackToBackClaimsAreClean) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.grant("c2", {"r1"}, 300, 500, 1000, "b");  // granted the instant a's validity ends
  h.grant("c3", {"r1"}, 900, 1000, 1500, "c");
  expect_clean(run(h));
}

TEST(TortureChecker, AClaimOfZeroLengthOverlapsNothing) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.grant("c2", {"r1"}, 100, 200, 700, "b");
  h.lost("c2", "b", 200);  // lost the instant it was granted
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.model.claims[1].start, r.model.claims[1].end);
}

TEST(TortureChecker, AClaimEndsAtItsReleaseInvocation) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 1000, "a");
  h.release("c1", "a", 300, 320);
  h.grant("c2", {"r1"}, 100, 310, 800, "b");  // between the release's invocation and its answer
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.model.claims[0].end, ms(300));
  EXPECT_EQ(r.model.claims[0].ended_by, claim_end::release);
}

TEST(TortureChecker, AReleaseWithoutCompletionStillEndsTheClaim) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 1000, "a");
  h.release("c1", "a", 300, std::nullopt);
  h.grant("c2", {"r1"}, 100, 310, 800, "b");
  report r = run(h);
  EXPECT_EQ(r.violations(), 0u);
  EXPECT_EQ(r.unknown(), 1u);
  EXPECT_EQ(r.model.unknown[0].op, op::release);
}

TEST(TortureChecker, AClaimEndsAtItsLostSignal) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 1000, "a");
  h.lost("c1", "a", 300);
  h.grant("c2", {"r1"}, 100, 400, 900, "b");
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.model.claims[0].ended_by, claim_end::lost);
}

TEST(TortureChecker, AFailedExtendReportingAShorterValidityShortensTheClaim) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 1000, "a");
  h.extend_failed("c1", "a", 290, 300, 350);
  h.extend_failed("c1", "a", 320, 330, std::nullopt, "no_quorum");  // says nothing: no change
  h.grant("c2", {"r1"}, 100, 400, 900, "b");
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.model.claims[0].end, ms(350));
}

TEST(TortureChecker, TheLastReportedValidityCountsNotTheLatest) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.extend_ok("c1", "a", 100, 110, 900);
  h.extend_failed("c1", "a", 190, 200, 600, "lock_lost", op::check);  // a check shortens it
  h.grant("c2", {"r1"}, 300, 650, 1100, "b");
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.model.claims[0].end, ms(600));
}

// ---- rule 2: unknown outcomes ----

TEST(TortureChecker, AnUnknownAcquireOverlappingAKnownGrantIsCountedNotAViolation) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.invoke_acquire("c2", {"r1"}, 100, 800);  // c2 was killed mid-call
  report r = run(h);
  expect_clean(r);
  EXPECT_EQ(r.unknown(), 1u);
  ASSERT_THAT(r.model.unknown, SizeIs(1));
  EXPECT_EQ(r.model.unknown[0].client, "c2");
  EXPECT_EQ(r.model.unknown[0].invoked, ms(100));
  EXPECT_EQ(r.model.unknown[0].window_end, ms(900));
  EXPECT_THAT(r.model.unknown[0].describe(), StartsWith("unknown outcome: acquire client \"c2\""));
  EXPECT_EQ(r.summary(), "grants 1, unknown 1, violations 0, liveness failures 0");
}

TEST(TortureChecker, AnUnknownExtendLengthensOnlyThePossibleEnd) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.invoke("c1", op::extend, "a", 400, 1000);
  h.grant("c2", {"r1"}, 450, 600, 1100, "b");
  report r = run(h);
  EXPECT_EQ(r.violations(), 0u);
  EXPECT_EQ(r.unknown(), 1u);
  EXPECT_EQ(r.model.claims[0].end, ms(500));
  EXPECT_EQ(r.model.claims[0].possible_end, ms(1400));
  EXPECT_THAT(r.model.unknown[0].resources, ElementsAre("r1"));
}

// ---- rule 3: fences ----

TEST(TortureChecker, FencesMustIncreaseInGrantOrder) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a", 5);
  h.grant("c2", {"r1"}, 500, 600, 1000, "b", 4);  // inversion
  h.grant("c3", {"r1"}, 1000, 1100, 1500, "c", 6);
  h.grant("c1", {"r1"}, 1500, 1600, 2000, "d", 6);  // repeat
  h.grant("c2", {"r2"}, 0, 10, 500, "e", 1);        // another resource: its own order
  report r = run(h);
  EXPECT_THAT(r.fence_inversions,
              ElementsAre(AllOf(Field(&fence_inversion::earlier, Field(&claim::token, "a")),
                                Field(&fence_inversion::later, Field(&claim::token, "b"))),
                          AllOf(Field(&fence_inversion::earlier, Field(&claim::token, "c")),
                                Field(&fence_inversion::later, Field(&claim::token, "d")))));
  EXPECT_THAT(r.fence_inversions[1].describe(), HasSubstr("with fence 6, not greater than 6"));
  EXPECT_EQ(r.violations(), 2u);
  EXPECT_THAT(r.overlaps, IsEmpty());
}

// ---- rule 4: effects ----

TEST(TortureChecker, TwoWritesThatReadTheSameValueAreALostUpdate) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.grant("c2", {"r1"}, 500, 510, 1000, "b");
  h.write("c1", "a", "r1", 100, 5);
  h.write("c2", "b", "r1", 600, 6);
  h.write("c1", "a", "r1", 700, 6);             // c1 resumed and wrote late: 7 twice
  h.write("c2", "b", "r1", 800, 7, {}, false);  // not applied: it loses nothing
  h.write("c2", "b", "r2", 900, 6);             // another counter
  report r = run(h);
  EXPECT_THAT(r.lost_updates,
              ElementsAre(AllOf(Field(&lost_update::resource, "r1"),
                                Field(&lost_update::first, Field(&effect_record::t, ms(600))),
                                Field(&lost_update::second, Field(&effect_record::t, ms(700))))));
  EXPECT_THAT(r.lost_updates[0].describe(), HasSubstr("both read 6"));
}

TEST(TortureChecker, AStaleFencedWriteThatWasAcceptedIsAViolation) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a", 7);
  h.grant("c2", {"r1"}, 500, 510, 1000, "b", 8);
  h.write("c1", "a", "r1", 100, 1, 7);
  h.write("c1", "a", "r1", 200, 2, 7);  // the same holder again: fine
  h.write("c2", "b", "r1", 700, 3, 8);
  h.write("c1", "a", "r1", 800, 4, 7);         // accepted after fence 8: stale
  h.write("c1", "a", "r1", 900, 4, 7, false);  // refused: as it should be
  check_options o;
  o.effects = effect_mode::fenced;
  report r = run(h, o);
  EXPECT_THAT(r.stale_writes,
              ElementsAre(AllOf(Field(&stale_write::newer, Field(&effect_record::t, ms(700))),
                                Field(&stale_write::stale, Field(&effect_record::t, ms(800))))));
  EXPECT_THAT(r.lost_updates, IsEmpty());  // not looked for in a fenced run
  EXPECT_EQ(r.violations(), 1u);
}

TEST(TortureChecker, FencedWritesThatCrossedAreNotStale) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a", 7);
  h.grant("c2", {"r1"}, 500, 510, 1000, "b", 8);
  // c1's write was sent at 650, applied, then recorded at 800, after c2's at 700.
  h.write("c2", "b", "r1", 700, 3, 8, true, 690);
  h.write("c1", "a", "r1", 800, 2, 7, true, 650);
  check_options o;
  o.effects = effect_mode::fenced;
  expect_clean(run(h, o));
}

// ---- rule 5: liveness ----

TEST(TortureChecker, ACallOverItsBudgetIsALivenessFailure) {
  history_builder h;
  std::uint64_t slow = h.invoke_acquire("c1", {"r1"}, 0, 500, 100);
  h.refuse("c1", slow, 701);  // wait 100 + ttl 500 + slack 100 = 700
  std::uint64_t fine = h.invoke_acquire("c2", {"r1"}, 0, 500, 100);
  h.refuse("c2", fine, 700);
  h.grant("c3", {"r2"}, 0, 10, 500, "a");
  h.release("c3", "a", 100, 400);
  check_options o;
  o.budgets.acquire_slack = milliseconds(100);
  report r = run(h, o);
  EXPECT_THAT(r.budget_overruns,
              ElementsAre(AllOf(Field(&budget_overrun::client, "c1"),
                                Field(&budget_overrun::took_ms, DoubleEq(701.0)),
                                Field(&budget_overrun::budget_ms, DoubleEq(700.0)))));
  EXPECT_EQ(r.liveness_failures(), 1u);
  EXPECT_EQ(r.violations(), 0u);

  o.budgets.other_calls = milliseconds(250);  // the release took 300
  r = run(h, o);
  EXPECT_THAT(r.budget_overruns, SizeIs(2));
  EXPECT_EQ(r.budget_overruns[1].op, op::release);
}

TEST(TortureChecker, ALongUncoveredWaitWithAHealthyMajorityIsAGap) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.release("c1", "a", 400, 410);
  h.grant("c2", {"r1"}, 300, 3000, 3500, "b", {}, 500, 5000);
  check_options o;
  o.healthy = {{ms(0), ms(10000)}};
  o.max_gap = milliseconds(1000);
  report r = run(h, o);
  EXPECT_THAT(r.liveness_gaps, ElementsAre(AllOf(Field(&liveness_gap::resource, "r1"),
                                                 Field(&liveness_gap::from, ms(400)),
                                                 Field(&liveness_gap::to, ms(3000)),
                                                 Field(&liveness_gap::gap_ms, DoubleEq(2600.0)))));

  o.max_gap = milliseconds(3000);  // within the bound
  EXPECT_THAT(run(h, o).liveness_gaps, IsEmpty());

  o.max_gap = milliseconds(1000);
  o.healthy = {{ms(0), ms(300)}, {ms(2500), ms(10000)}};  // no majority for most of it
  EXPECT_THAT(run(h, o).liveness_gaps, IsEmpty());

  o.healthy = {{ms(0), ms(10000)}};
  h.invoke_acquire("c3", {"r1"}, 450, 2000);  // unknown: may have held it until 2450
  EXPECT_THAT(run(h, o).liveness_gaps, IsEmpty());
}

TEST(TortureChecker, AWaitForAnotherResourceOfTheLockIsNoGap) {
  history_builder h;
  h.grant("c1", {"r2"}, 0, 10, 2900, "a", {}, 3000);
  h.grant("c2", {"r1", "r2"}, 100, 2950, 3500, "b", {}, 500, 5000);
  check_options o;
  o.healthy = {{ms(0), ms(10000)}};
  o.max_gap = milliseconds(1000);
  expect_clean(run(h, o));
}

// ---- rule 6: holders paused past their validity ----

class TortureCheckerPause : public ::testing::Test {
 protected:
  // c1 holds r1 until 500 and is paused from 300 to 2000; c2 (unless alone) takes r1 at 800.
  void start(std::optional<std::uint64_t> fence_a = {}, std::optional<std::uint64_t> fence_b = {},
             bool alone = false) {
    fence_a_ = fence_a;
    h.grant("c1", {"r1"}, 0, 10, 500, "a", fence_a);
    if (!alone) h.grant("c2", {"r1"}, 700, 800, 1300, "b", fence_b);
    o.pauses = {{"c1", {ms(300), ms(2000)}}};
  }
  // c1 resumed and wrote to r1 at 2100.
  report acted_at_2100() {
    h.write("c1", "a", "r1", 2100, 1, fence_a_);
    return run(h, o);
  }
  history_builder h;
  check_options o;

 private:
  std::optional<std::uint64_t> fence_a_;
};

TEST_F(TortureCheckerPause, ActingAfterResumingWithoutBeingToldIsAViolation) {
  start();
  report r = acted_at_2100();
  ASSERT_THAT(r.unsafe_resumes, SizeIs(1));
  EXPECT_EQ(r.unsafe_resumes[0].held.token, "a");
  ASSERT_TRUE(r.unsafe_resumes[0].next_holder);
  EXPECT_EQ(r.unsafe_resumes[0].next_holder->token, "b");
  EXPECT_THAT(r.unsafe_resumes[0].describe(),
              AllOf(StartsWith("unsafe resume on \"r1\": \"c1\" was paused"),
                    HasSubstr("no fences to tell them apart")));
  EXPECT_EQ(r.violations(), 1u);
}

TEST_F(TortureCheckerPause, ALostSignalBeforeActingIsSafe) {
  start();
  h.lost("c1", "a", 2050);
  expect_clean(acted_at_2100());
}

TEST_F(TortureCheckerPause, AFailedExtendWithLockLostBeforeActingIsSafe) {
  start();
  h.extend_failed("c1", "a", 2010, 2050, std::nullopt);
  expect_clean(acted_at_2100());
}

TEST_F(TortureCheckerPause, AFenceBelowTheNextHoldersIsSafe) {
  start(1, 2);
  expect_clean(acted_at_2100());
}

TEST_F(TortureCheckerPause, AFenceNotBelowTheNextHoldersIsNot) {
  start(2, 1);  // also a fence inversion
  report r = acted_at_2100();
  EXPECT_THAT(r.unsafe_resumes, SizeIs(1));
  EXPECT_THAT(r.fence_inversions, SizeIs(1));
}

TEST_F(TortureCheckerPause, NoOtherHolderMeansNothingToConflictWith) {
  start({}, {}, true);
  expect_clean(acted_at_2100());
}

TEST_F(TortureCheckerPause, APauseThatEndedBeforeTheValidityDidIsNotLookedAt) {
  start();
  o.pauses = {{"c1", {ms(100), ms(400)}}};
  h.write("c1", "a", "r1", 450, 1);
  expect_clean(run(h, o));
}

// ---- the report and the model's errors ----

TEST(TortureChecker, TheReportSaysItAllInOneLineEachAndInJson) {
  history_builder h;
  h.grant("c1", {"r\n1"}, 0, 10, 500, "a\nb");
  h.grant("c2", {"r\n1"}, 100, 200, 700, "c");
  h.invoke_acquire("c3", {"r\n1"}, 100);
  report r = run(h);
  EXPECT_EQ(r.summary(), "grants 2, unknown 1, violations 1, liveness failures 0");
  ASSERT_THAT(r.descriptions(), SizeIs(1));
  EXPECT_THAT(r.descriptions()[0], Not(HasSubstr("\n")));
  EXPECT_THAT(r.descriptions()[0], HasSubstr(R"("a\nb")"));
  std::string json = r.to_json(R"("seed":42,"faults":["pause c1"])");
  EXPECT_THAT(json, StartsWith(R"({"seed":42,"faults":["pause c1"],"grants":2,"unknown":1,)"
                               R"("violations":1,"liveness_failures":0,"history_errors":0,)"));
  EXPECT_THAT(json, AllOf(HasSubstr(R"("overlap_ms":300.000)"), HasSubstr(R"("unknown_calls":[{)"),
                          HasSubstr(R"("fence_inversions":[])"), Not(HasSubstr("\n"))));
  EXPECT_THAT(r.to_json(), StartsWith(R"({"grants":2,)"));
}

TEST(TortureChecker, RecordsThatMakeNoSenseTogetherAreHistoryErrors) {
  history_builder h;
  h.grant("c1", {"r1"}, 0, 10, 500, "a");
  h.records.push_back({ms(20), "c1", success{99, "x", ms(30), {}, ""}});  // no invocation
  h.records.push_back({ms(30), "c1", success{1, "a", ms(30), {}, ""}});   // completed twice
  h.release("c1", "zz", 40, 50);                                          // never granted
  std::uint64_t id = h.invoke_acquire("c2", {"r1"}, 600);
  h.records.push_back({ms(610), "c2", success{id, "", ms(900), {}, ""}});  // ok without token
  report r = run(h);
  EXPECT_THAT(
      r.model.errors,
      ElementsAre(HasSubstr("call 99: completion at t=20000000 without invocation"),
                  HasSubstr("call 1: completed twice"), HasSubstr("release of token \"zz\""),
                  HasSubstr("acquire ok without token")));
  EXPECT_EQ(r.grants(), 1u);
  EXPECT_EQ(r.summary(),
            "grants 1, unknown 0, violations 0, liveness failures 0, history errors 4");
}

}  // namespace
}  // namespace redlock::torture
