// The torture history format: the exact lines written, round trips through a file, escaping,
// the strict parser's refusals, and the reader's handling of a cut or malformed line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "flat_json.hpp"
#include "history.hpp"

namespace redlock::torture {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

record acquire_invocation() {
  return {from_nanos(123), "c3", acquire_call(17, {"r1", "r2"}, milliseconds(500), {}, true)};
}

std::string line_of(const record& r) {
  auto line = to_json_line(r);
  EXPECT_TRUE(line) << line.error();
  return line ? *line : "";
}

// A temporary file, removed at the end of the test.
class temp_file {
 public:
  temp_file() {
    std::string pattern = ::testing::TempDir() + "torture_history_XXXXXX";
    fd_ = ::mkstemp(pattern.data());
    path_ = pattern;
  }
  ~temp_file() {
    ::close(fd_);
    std::remove(path_.c_str());
  }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  std::string contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::binary) << text; }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(TortureHistory, WritesEachPhaseInTheDocumentedShape) {
  EXPECT_EQ(line_of(acquire_invocation()),
            R"({"t":123,"client":"c3","call":17,"phase":"invoke","op":"acquire",)"
            R"("resources":["r1","r2"],"ttl_ms":500,"wait_ms":0,"fenced":true})");

  invocation extend = extend_call(18, "abc", milliseconds(700));
  EXPECT_EQ(line_of({from_nanos(140), "c3", extend}),
            R"({"t":140,"client":"c3","call":18,"phase":"invoke","op":"extend",)"
            R"("token":"abc","ttl_ms":700})");

  invocation release = release_call(19, "abc");
  EXPECT_EQ(line_of({from_nanos(150), "c3", release}),
            R"({"t":150,"client":"c3","call":19,"phase":"invoke","op":"release","token":"abc"})");

  success ok{17, "abc", from_nanos(456), 42, "3 of 5 nodes granted"};
  EXPECT_EQ(line_of({from_nanos(130), "c3", ok}),
            R"({"t":130,"client":"c3","call":17,"phase":"ok","token":"abc","valid_until":456,)"
            R"("fence":42,"tally":"3 of 5 nodes granted"})");

  failure failed{18, "lock_lost", "2 of 5 nodes extended", from_nanos(400)};
  EXPECT_EQ(line_of({from_nanos(160), "c3", failed}),
            R"({"t":160,"client":"c3","call":18,"phase":"fail","error":"lock_lost",)"
            R"("message":"2 of 5 nodes extended","valid_until":400})");

  EXPECT_EQ(line_of({from_nanos(200), "c3", lost_signal{"abc", "margin_reached"}}),
            R"({"t":200,"client":"c3","phase":"lost","token":"abc","cause":"margin_reached"})");

  effect e{"abc", "r1", 5, 6, 42, true, std::nullopt};
  EXPECT_EQ(line_of({from_nanos(210), "c3", e}),
            R"({"t":210,"client":"c3","phase":"effect","token":"abc","resource":"r1",)"
            R"("read":5,"wrote":6,"fence":42,"accepted":true})");
}

TEST(TortureHistory, EveryRecordReadsBackAsWritten) {
  invocation check = check_call(20, "abc");
  std::vector<record> records = {
      acquire_invocation(),
      {from_nanos(130), "c3", success{17, "abc", from_nanos(456), 42, "3 of 5 nodes granted"}},
      {from_nanos(131), "c3", success{21, "", std::nullopt, std::nullopt, ""}},
      {from_nanos(140), "c3", check},
      {from_nanos(150), "c3", failure{20, "no_quorum", "", std::nullopt}},
      {from_nanos(200), "c3", lost_signal{"abc", "refused"}},
      {from_nanos(210), "c3", effect{"abc", "r1", -5, -4, std::nullopt, false, from_nanos(205)}},
      // The extremes of each integer.
      {from_nanos(std::numeric_limits<std::int64_t>::max()), "c3",
       success{std::numeric_limits<std::uint64_t>::max(), "t",
               from_nanos(std::numeric_limits<std::int64_t>::min()),
               std::numeric_limits<std::uint64_t>::max(), ""}},
  };
  temp_file file;
  {
    history_writer out(file.fd());
    for (const record& r : records)
      ASSERT_TRUE(out.write(r));
  }
  auto h = read_history(file.path());
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->skipped, 0u);
  ASSERT_EQ(h->records.size(), records.size());
  for (std::size_t i = 0; i < records.size(); ++i)
    EXPECT_EQ(line_of(h->records[i]), line_of(records[i])) << "record " << i;

  const auto& call = std::get<invocation>(h->records[0].what);
  EXPECT_EQ(h->records[0].t, from_nanos(123));
  EXPECT_EQ(h->records[0].client, "c3");
  EXPECT_EQ(call.call, 17u);
  EXPECT_EQ(call.op, op::acquire);
  EXPECT_THAT(call.resources, ElementsAre("r1", "r2"));
  EXPECT_EQ(call.ttl, milliseconds(500));
  EXPECT_EQ(call.wait, milliseconds(0));
  EXPECT_TRUE(call.fenced);
  const auto& done = std::get<effect>(h->records[6].what);
  EXPECT_EQ(done.read, -5);
  EXPECT_EQ(done.sent, from_nanos(205));
  EXPECT_FALSE(done.accepted);
  EXPECT_EQ(std::get<success>(h->records[7].what).fence, std::numeric_limits<std::uint64_t>::max());
}

TEST(TortureHistory, OpenAppendsToTheFile) {
  temp_file file;
  file.write(line_of(acquire_invocation()) + "\n");
  {
    auto out = history_writer::open(file.path());
    ASSERT_TRUE(out) << out.error();
    ASSERT_TRUE(out->write({from_nanos(200), "c3", lost_signal{"abc", "refused"}}));
  }
  auto h = read_history(file.path());
  ASSERT_TRUE(h) << h.error();
  ASSERT_EQ(h->records.size(), 2u);
  EXPECT_EQ(phase_of(h->records[1].what), std::string("lost"));
}

TEST(TortureHistory, TokensAndMessagesWithAnyBytesStayOnOneLineAndReadBack) {
  std::string nasty = std::string("q\"b\\n\nt\tr\rc\x01\x7f") + '\0' + "é\xff/end";
  failure failed{3, "lock_lost", nasty, std::nullopt};
  record r{from_nanos(1), "c\"1", failed};
  std::string line = line_of(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  EXPECT_THAT(line, HasSubstr(R"("message":"q\"b\\n\nt\tr\rc\u0001\u007f\u0000é)"));
  auto back = parse_record(line);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->client, "c\"1");
  EXPECT_EQ(std::get<failure>(back->what).message, nasty);
}

TEST(TortureHistory, ParserDecodesEveryEscape) {
  auto members = parse_flat_object(
      R"( { "a" : "\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20AC \ud83d\ude00" , "b":[ ] ,)"
      R"("c":null, "d" : false, "e":-0 } )");
  ASSERT_TRUE(members) << members.error();
  ASSERT_EQ(members->size(), 5u);
  EXPECT_EQ(std::get<std::string>((*members)[0].value),
            "\" \\ / \b \f \n \r \t A \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_THAT(std::get<std::vector<std::string>>((*members)[1].value), IsEmpty());
  EXPECT_TRUE(std::holds_alternative<json_null>((*members)[2].value));
  EXPECT_FALSE(std::get<bool>((*members)[3].value));
  EXPECT_EQ(std::get<json_integer>((*members)[4].value).as_int64(), 0);
}

TEST(TortureHistory, ParserRefusesAnythingButTheFlatShape) {
  struct bad {
    const char* text;
    const char* error;
  };
  for (const bad& b : std::vector<bad>{
           {R"({"a":{"b":1}})", "column 6: nested objects"},
           {R"({"a":[1]})", "column 7: arrays in a history record hold only strings"},
           {R"({"a":1.5})", "no fraction or exponent"},
           {R"({"a":1e3})", "no fraction or exponent"},
           {R"({"a":01})", "leading zeros"},
           {R"({"a":18446744073709551616})", "column 6: integer out of range"},
           {R"({"a":-9223372036854775809})", "integer out of range"},
           {R"({"a":1,"a":2})", "column 8: member \"a\" appears twice"},
           {R"({"a":"\x"})", "unknown escape \\x"},
           {R"({"a":"\ud83d"})", "high surrogate"},
           {R"({"a":"\ude00"})", "low surrogate"},
           {R"({"a":"\u12"})", "four hex digits"},
           {"{\"a\":\"x\ty\"}", "control character inside a string"},
           {R"({"a":"x)", "the line ends inside a string"},
           {R"({"a":1} x)", "unexpected text after"},
           {R"({"a":1,})", "expected a member name"},
           {R"({"a" 1})", "expected ':'"},
           {R"({"a":tru})", "expected a value"},
           {R"(["a"])", "column 1: expected '{'"},
           {"", "column 1: expected '{'"},
       }) {
    auto members = parse_flat_object(b.text);
    ASSERT_FALSE(members) << b.text;
    EXPECT_THAT(members.error(), HasSubstr(b.error)) << b.text;
    EXPECT_THAT(members.error(), StartsWith("column ")) << b.text;
  }
  auto biggest = parse_flat_object(R"({"a":18446744073709551615,"b":-9223372036854775808})");
  ASSERT_TRUE(biggest) << biggest.error();
  EXPECT_EQ(std::get<json_integer>((*biggest)[0].value).as_uint64(),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(std::get<json_integer>((*biggest)[1].value).as_int64(),
            std::numeric_limits<std::int64_t>::min());
}

TEST(TortureHistory, RecordsMustHaveTheirPhasesFieldsAndNoOthers) {
  struct bad {
    const char* line;
    const char* error;
  };
  for (const bad& b : std::vector<bad>{
           {R"({"client":"c1","phase":"lost","token":"a","cause":"refused"})",
            "member \"t\" is missing"},
           {R"({"t":"1","client":"c1","phase":"lost","token":"a","cause":"refused"})",
            "member \"t\" must be an integer"},
           {R"({"t":1,"client":"c1","phase":"gone"})", "\"phase\" must be invoke, ok, fail"},
           {R"({"t":1,"client":"c1","call":2,"phase":"lost","token":"a","cause":"refused"})",
            "member \"call\" is not part of a \"lost\" record"},
           {R"({"t":1,"client":"c1","call":2,"phase":"invoke","op":"grab","token":"a"})",
            "\"op\" must be acquire, extend, release or check"},
           {R"({"t":1,"client":"c1","call":2,"phase":"invoke","op":"release","token":"a",)"
            R"("ttl_ms":5})",
            "member \"ttl_ms\" is not part of an invocation of release"},
           {R"({"t":1,"client":"c1","call":2,"phase":"invoke","op":"acquire","resources":[],)"
            R"("ttl_ms":5})",
            "an acquire names no resource"},
           {R"({"t":1,"client":"c1","call":2,"phase":"invoke","op":"extend","token":"a"})",
            "member \"ttl_ms\" is missing"},
           {R"({"t":1,"client":"c1","call":-2,"phase":"ok"})",
            "member \"call\" must be a non-negative integer"},
           {R"({"t":1,"client":"","call":2,"phase":"ok"})", "the client name is empty"},
           {R"({"t":1,"client":"c1","call":2,"phase":"fail","message":"m"})",
            "member \"error\" is missing"},
           {R"({"t":1,"client":"c1","phase":"effect","token":"a","resource":"r","read":1,)"
            R"("wrote":2,"accepted":1})",
            "member \"accepted\" must be true or false"},
       }) {
    auto r = parse_record(b.line);
    ASSERT_FALSE(r) << b.line;
    EXPECT_THAT(r.error(), HasSubstr(b.error)) << b.line;
  }
  // Optional members may be null.
  auto r = parse_record(R"({"t":1,"client":"c1","call":2,"phase":"ok","fence":null})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(std::get<success>(r->what).fence);
}

TEST(TortureHistory, TheWriterRefusesABadRecordAndWritesNothing) {
  temp_file file;
  history_writer out(file.fd());
  invocation release = release_call(4, "");  // no token
  auto written = out.write({from_nanos(1), "c1", release});
  ASSERT_FALSE(written);
  EXPECT_THAT(written.error(), HasSubstr("a release names no token"));
  invocation acquire = acquire_call(5, {}, milliseconds(100));  // no resource
  EXPECT_FALSE(out.write({from_nanos(1), "c1", acquire}));
  EXPECT_THAT(file.contents(), IsEmpty());
}

TEST(TortureHistory, ATruncatedLastLineIsSkippedAndCounted) {
  std::string good = line_of(acquire_invocation());
  std::string lost = line_of({from_nanos(200), "c3", lost_signal{"abc", "refused"}});
  auto h = parse_history(good + "\n" + lost.substr(0, 20), "c3.jsonl");
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->records.size(), 1u);
  EXPECT_EQ(h->skipped, 1u);
  EXPECT_THAT(h->skipped_reason, StartsWith("c3.jsonl:2: last line skipped (cut short)"));

  // Malformed but terminated: skipped too.
  h = parse_history(good + "\n{\"t\":oops}\n", "c3.jsonl");
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->records.size(), 1u);
  EXPECT_EQ(h->skipped, 1u);
  EXPECT_THAT(h->skipped_reason, HasSubstr("malformed"));

  // A complete last line without its newline is kept.
  h = parse_history(good + "\n" + lost, "c3.jsonl");
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->records.size(), 2u);
  EXPECT_EQ(h->skipped, 0u);
  EXPECT_THAT(h->skipped_reason, IsEmpty());

  h = parse_history("", "c3.jsonl");
  ASSERT_TRUE(h) << h.error();
  EXPECT_THAT(h->records, IsEmpty());
}

TEST(TortureHistory, AMalformedMiddleLineIsAnErrorNamingFileAndLine) {
  std::string good = line_of(acquire_invocation());
  temp_file file;
  file.write(good + "\n" + good + "\n" + R"({"t":1,"client":"c3","phase":"lost"})" + "\n" + good +
             "\n");
  auto h = read_history(file.path());
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error(), StartsWith(file.path() + ":3: "));
  EXPECT_THAT(h.error(), HasSubstr("member \"token\" is missing"));

  h = parse_history(good + "\n\n" + good + "\n", "c3.jsonl");
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error(), StartsWith("c3.jsonl:2: column 1"));
}

TEST(TortureHistory, AMissingFileIsAnErrorNamingIt) {
  auto h = read_history("/nonexistent/c9.jsonl");
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error(), StartsWith("/nonexistent/c9.jsonl: cannot open"));
  auto out = history_writer::open("/nonexistent/c9.jsonl");
  ASSERT_FALSE(out);
  EXPECT_THAT(out.error(), HasSubstr("/nonexistent/c9.jsonl"));
}

TEST(TortureOutcome, AFailureNeedsAMessageAndHasNoValue) {
  EXPECT_THROW(fail(""), std::logic_error);
  outcome<int> failed = fail("no");
  EXPECT_FALSE(failed);
  EXPECT_EQ(failed.error(), "no");
  EXPECT_THROW((void)failed.value(), std::logic_error);
  outcome<int> fine = 3;
  EXPECT_THAT(fine.error(), IsEmpty());
  EXPECT_EQ(*fine, 3);
  EXPECT_THAT(std::string(phase_of(event{invocation{}})), Not(IsEmpty()));
}

}  // namespace
}  // namespace redlock::torture
