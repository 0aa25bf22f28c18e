// The `redlock` tool's command line: durations, flags, and the client options they make.
#include "args.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace redlock::cli {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string usage_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no usage_error)";
}

TEST(CliDuration, TakesMillisecondsSecondsMinutesAndHours) {
  EXPECT_EQ(parse_duration("500ms", "--wait"), milliseconds(500));
  EXPECT_EQ(parse_duration("10s", "--wait"), milliseconds(10'000));
  EXPECT_EQ(parse_duration("1.5s", "--wait"), milliseconds(1'500));
  EXPECT_EQ(parse_duration("2m", "--wait"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h", "--wait"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("0s", "--wait"), milliseconds(0));
}

TEST(CliDuration, RefusesWhatIsNotADurationAndNamesTheFlag) {
  struct bad {
    const char* text;
    const char* says;
  };
  for (const bad& b : {bad{"5", "the unit is missing"}, bad{"abc", "expected a duration"},
                       bad{"-1s", "expected a duration"}, bad{"10x", "unknown unit 'x'"},
                       bad{"", "expected a duration"}, bad{".s", "expected a duration"},
                       bad{"1.2.3s", "unknown unit '.3s'"}, bad{"9000h", "at most one year"},
                       bad{"1e9s", "unknown unit 'e9s'"}}) {
    std::string m = usage_message([&] { (void)parse_duration(b.text, "--ttl"); });
    EXPECT_THAT(m, HasSubstr("invalid --ttl '" + std::string(b.text) + "'")) << b.text;
    EXPECT_THAT(m, HasSubstr(b.says)) << b.text;
  }
}

TEST(CliDuration, PrintsWholeSecondsAsSecondsAndTheRestAsMilliseconds) {
  EXPECT_EQ(duration_text(milliseconds(10'000)), "10s");
  EXPECT_EQ(duration_text(milliseconds(1'500)), "1.5s");
  EXPECT_EQ(duration_text(milliseconds(250)), "250ms");
  EXPECT_EQ(duration_text(milliseconds(1'234)), "1234ms");
}

TEST(CliInteger, TakesTheRangeAndRefusesTheRest) {
  EXPECT_EQ(parse_integer("0", "-E", 0, 255), 0);
  EXPECT_EQ(parse_integer("255", "-E", 0, 255), 255);
  for (const char* text : {"256", "-1", "abc", "", "1.5", "99999999999999999999"}) {
    EXPECT_THAT(
        usage_message([&] { (void)parse_integer(text, "-E", 0, 255); }),
        HasSubstr("invalid -E '" + std::string(text) + "': expected a whole number from 0 to 255"));
  }
}

const std::vector<flag> known = {
    {"wait", 'w', true, "D", ""}, {"nonblock", 'n', false, "", ""}, {"json", 0, false, "", ""}};

TEST(CliFlags, TakesLongShortInlineAndSeparateValues) {
  parsed_args a = parse_args({"--wait", "5s", "res"}, known, "acquire");
  EXPECT_EQ(*a.value("wait"), "5s");
  EXPECT_THAT(a.positional, ElementsAre("res"));
  EXPECT_EQ(*parse_args({"--wait=1s"}, known, "acquire").value("wait"), "1s");
  EXPECT_EQ(*parse_args({"-w2s"}, known, "acquire").value("wait"), "2s");
  EXPECT_EQ(*parse_args({"-w", "3s"}, known, "acquire").value("wait"), "3s");
  parsed_args b = parse_args({"-n", "res", "--json"}, known, "acquire");
  EXPECT_TRUE(b.has("nonblock"));
  EXPECT_TRUE(b.has("json"));
  EXPECT_THAT(b.positional, ElementsAre("res"));
}

TEST(CliFlags, RefusesUnknownFlagsMissingAndUnwantedValues) {
  EXPECT_EQ(usage_message([] { (void)parse_args({"--bogus"}, known, "acquire"); }),
            "unknown option '--bogus' (see redlock acquire --help)");
  EXPECT_EQ(usage_message([] { (void)parse_args({"-x"}, known, "acquire"); }),
            "unknown option '-x' (see redlock acquire --help)");
  EXPECT_EQ(usage_message([] { (void)parse_args({"--wait"}, known, "exec"); }),
            "option '--wait' needs a value (D) (see redlock exec --help)");
  EXPECT_EQ(usage_message([] { (void)parse_args({"--json=yes"}, known, "status"); }),
            "option '--json' takes no value (see redlock status --help)");
}

TEST(CliFlags, ExecKeepsTheCommandsOwnFlags) {
  parsed_args a = parse_args({"-n", "res", "--", "ls", "-l", "--json"}, known, "exec", true);
  EXPECT_TRUE(a.has("nonblock"));
  EXPECT_FALSE(a.has("json"));
  EXPECT_THAT(a.positional, ElementsAre("res", "ls", "-l", "--json"));
  parsed_args b = parse_args({"res", "ls", "-w"}, known, "exec", true);
  EXPECT_FALSE(b.has("wait"));
  EXPECT_THAT(b.positional, ElementsAre("res", "ls", "-w"));
}

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<flag> all_client_flags() {
  return client_flags();
}

TEST(CliClientOptions, ServersComeFromTheFlagElseTheEnvironment) {
  auto env = env_of({{"REDLOCK_SERVERS", "redis://a:1,redis://b:2,redis://c:3"}});
  client_options from_env = client_options_from(parse_args({}, all_client_flags(), "status"), env);
  EXPECT_THAT(from_env.endpoints, ElementsAre("redis://a:1", "redis://b:2", "redis://c:3"));
  client_options from_flag = client_options_from(
      parse_args({"--servers", "redis://x:9"}, all_client_flags(), "status"), env);
  EXPECT_THAT(from_flag.endpoints, ElementsAre("redis://x:9"));
  EXPECT_TRUE(from_flag.quarantine.enabled);
}

TEST(CliClientOptions, ACommaInAPasswordStaysInItsUrl) {
  auto args = parse_args({"--servers", "redis://:p,ss@a:1,rediss://b:2,unix:///s.sock"},
                         all_client_flags(), "status");
  EXPECT_THAT(client_options_from(args, env_of({})).endpoints,
              ElementsAre("redis://:p,ss@a:1", "rediss://b:2", "unix:///s.sock"));
}

TEST(CliClientOptions, TheSentinelsOfAGroupStayInItsUrl) {
  auto args = parse_args(
      {"--servers", "redis+sentinel://a:1,b:2/m1,redis://c:3,rediss+sentinel://d:4,e:5/m2"},
      all_client_flags(), "status");
  EXPECT_THAT(
      client_options_from(args, env_of({})).endpoints,
      ElementsAre("redis+sentinel://a:1,b:2/m1", "redis://c:3", "rediss+sentinel://d:4,e:5/m2"));
}

TEST(CliClientOptions, RefusesNoServersAndAnEmptyURL) {
  auto none = parse_args({}, all_client_flags(), "status");
  EXPECT_THAT(usage_message([&] { (void)client_options_from(none, env_of({})); }),
              HasSubstr("no servers: give --servers URL,URL,... or set REDLOCK_SERVERS"));
  auto gap = parse_args({"--servers", "redis://a:1,,redis://b:2"}, all_client_flags(), "status");
  EXPECT_THAT(usage_message([&] { (void)client_options_from(gap, env_of({})); }),
              HasSubstr("invalid --servers: an empty URL at position 2"));
  auto trailing = parse_args({"--servers", "redis://a:1,"}, all_client_flags(), "status");
  EXPECT_THAT(usage_message([&] { (void)client_options_from(trailing, env_of({})); }),
              HasSubstr("an empty URL at position 2"));
}

TEST(CliClientOptions, TimeoutTlsAndQuarantineFromFlagsAndEnvironment) {
  auto env = env_of({{"REDLOCK_SERVERS", "rediss://a:1"},
                     {"REDLOCK_TLS_CA_FILE", "/etc/ca.crt"},
                     {"REDLOCK_QUARANTINE", "off"},
                     {"REDLOCK_MAX_TTL", "2m"}});
  client_options o = client_options_from(
      parse_args({"--node-timeout", "20ms", "--tls-server-name", "cache", "--key-prefix", "app:"},
                 all_client_flags(), "status"),
      env);
  EXPECT_EQ(o.node_timeout, milliseconds(20));
  EXPECT_EQ(o.tls.ca_file, "/etc/ca.crt");
  EXPECT_EQ(o.tls.server_name, "cache");
  EXPECT_EQ(o.key_prefix, "app:");
  EXPECT_FALSE(o.tls.insecure_skip_verify);
  EXPECT_FALSE(o.quarantine.enabled);
  EXPECT_EQ(o.quarantine.max_ttl, milliseconds(120'000));
  client_options flags = client_options_from(
      parse_args({"--tls-insecure", "--no-quarantine"}, all_client_flags(), "status"),
      env_of({{"REDLOCK_SERVERS", "rediss://a:1"}}));
  EXPECT_TRUE(flags.tls.insecure_skip_verify);
  EXPECT_FALSE(flags.quarantine.enabled);
}

TEST(CliClientOptions, RefusesAnUnknownSwitchValueAndABadDuration) {
  auto args = parse_args({}, all_client_flags(), "status");
  EXPECT_EQ(usage_message([&] {
              (void)client_options_from(
                  args, env_of({{"REDLOCK_SERVERS", "redis://a:1"}, {"REDLOCK_QUARANTINE", "no"}}));
            }),
            "invalid $REDLOCK_QUARANTINE 'no': expected off or on");
  EXPECT_THAT(usage_message([&] {
                (void)client_options_from(args, env_of({{"REDLOCK_SERVERS", "redis://a:1"},
                                                        {"REDLOCK_NODE_TIMEOUT", "fast"}}));
              }),
              HasSubstr("invalid --node-timeout 'fast'"));
}

TEST(CliAcquire, WaitsWithoutLimitByDefaultLikeFlock) {
  std::vector<flag> flags = acquire_flags();
  acquire_choice c = acquire_choice_from(parse_args({}, flags, "exec"));
  EXPECT_EQ(c.options.wait, milliseconds::max());
  EXPECT_EQ(c.options.ttl, default_cli_ttl);
  EXPECT_EQ(c.conflict_status, exit_status::busy);
  EXPECT_FALSE(c.options.fencing);
  acquire_choice n = acquire_choice_from(parse_args({"-n", "--fence", "-E", "75"}, flags, "exec"));
  EXPECT_EQ(n.options.wait, milliseconds(0));
  EXPECT_TRUE(n.options.fencing);
  EXPECT_EQ(n.conflict_status, 75);
  EXPECT_EQ(
      acquire_choice_from(parse_args({"-w", "3s", "--ttl", "1m"}, flags, "exec")).options.wait,
      milliseconds(3'000));
}

TEST(CliAcquire, RefusesNonblockWithWaitAndAnExitCodeOutOfRange) {
  std::vector<flag> flags = acquire_flags();
  EXPECT_EQ(usage_message([&] {
              (void)acquire_choice_from(parse_args({"-n", "-w", "1s"}, flags, "exec"));
            }),
            "-n/--nonblock and -w/--wait exclude each other");
  EXPECT_THAT(usage_message([&] {
                (void)acquire_choice_from(parse_args({"-E", "256"}, flags, "exec"));
              }),
              HasSubstr("invalid --conflict-exit-code '256'"));
}

}  // namespace
}  // namespace redlock::cli
