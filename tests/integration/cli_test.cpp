// The `redlock` binary, driven as a user would drive it: real processes against a real fleet
// (and a fault proxy for lock loss), checking exit statuses, output and what is left behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "fault_proxy.hpp"
#include "fixture.hpp"

extern char** environ;

namespace redlock::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One run of the redlock binary, its stdout and stderr in files of `dir`.
class cli_process {
 public:
  // `wrapper`: a command line that runs the binary (its path and `args` appended), e.g. a shell
  // that sets a signal's disposition first.
  cli_process(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              const fs::path& dir, const std::vector<std::string>& wrapper = {}) {
    static int serial = 0;
    const std::string name = "cli-" + std::to_string(++serial);
    out_ = dir / (name + ".out");
    err_ = dir / (name + ".err");
    std::vector<std::string> argv = wrapper;
    argv.push_back(REDLOCK_CLI_BINARY);
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      // Only the test's own settings of the tool: none inherited from the shell that ran it
      // (the redis-server to use, for `fleet`, is kept).
      std::string entry(*e);
      if (entry.rfind("REDLOCK_", 0) != 0 || entry.rfind("REDLOCK_REDIS_SERVER=", 0) == 0)
        envp.push_back(entry);
    }
    for (const auto& [k, v] : env)
      envp.push_back(k + "=" + v);
    std::vector<char*> c_argv, c_envp;
    for (std::string& a : argv)
      c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    for (std::string& e : envp)
      c_envp.push_back(e.data());
    c_envp.push_back(nullptr);
    int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execvpe(c_argv[0], c_argv.data(), c_envp.data());
      ::_exit(126);
    }
    ::close(in);
    ::close(out);
    ::close(err);
  }
  ~cli_process() {
    if (status_ < 0 && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  cli_process(const cli_process&) = delete;
  cli_process& operator=(const cli_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int s) const { ::kill(pid_, s); }
  // The exit status (128 + N when killed by signal N); -1 after `limit` (the process is then
  // killed, and the test fails).
  int wait(milliseconds limit = milliseconds(30'000)) {
    if (status_ >= 0) return status_;
    int raw = 0;
    bool ended = eventually([&] { return ::waitpid(pid_, &raw, WNOHANG) == pid_; }, limit);
    if (!ended) {
      ADD_FAILURE() << "redlock did not exit within " << limit.count() << " ms; stderr: " << err();
      return -1;
    }
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return status_;
  }
  bool running() {
    if (status_ >= 0) return false;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) != pid_) return true;
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return false;
  }
  std::string out() const { return read_text(out_); }
  std::string err() const { return read_text(err_); }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
  int status_ = -1;
};

struct ran {
  int status;
  std::string out;
  std::string err;
};

// `s` as a JSON string literal (the test's strings need no escapes).
std::string json_quoted(const std::string& s) {
  return "\"" + s + "\"";
}

bool alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  std::size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

// The pids in the output of `fleet status --json`.
std::vector<pid_t> pids_in(std::string status_json) {
  std::vector<pid_t> pids;
  for (std::smatch p; std::regex_search(status_json, p, std::regex("\"pid\":([0-9]+)"));
       status_json = p.suffix())
    pids.push_back(std::stoi(p[1]));
  return pids;
}

class CliTest : public fleet_test {
 protected:
  void SetUp() override {
    fleet_test::SetUp();
    dir_ = fs::temp_directory_path() /
           ("redlock-cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(++made_));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // A `fleet` test that failed may have left its daemons: none outlives the test.
    for (const auto& proc : fs::directory_iterator("/proc")) {
      std::error_code ignored;
      const std::string cwd = fs::read_symlink(proc.path() / "cwd", ignored).string();
      if (cwd.rfind(dir_.string() + "/", 0) != 0) continue;
      const std::string name = proc.path().filename().string();
      if (name.find_first_not_of("0123456789") == std::string::npos)
        ::kill(std::stoi(name), SIGKILL);
    }
    fs::remove_all(dir_);
    fleet_test::TearDown();
  }

  // The environment a user of `fleet` would have: its servers, and generous timeouts for
  // sanitizer builds. The quarantine is off: the servers started a moment ago.
  std::map<std::string, std::string> env_for(const std::vector<std::string>& urls) const {
    std::string servers;
    for (const std::string& u : urls)
      servers += (servers.empty() ? "" : ",") + u;
    return {{"REDLOCK_SERVERS", servers},
            {"REDLOCK_QUARANTINE", "off"},
            {"REDLOCK_NODE_TIMEOUT", "500ms"}};
  }
  std::unique_ptr<cli_process> start(const std::vector<std::string>& args,
                                     std::map<std::string, std::string> env,
                                     const std::vector<std::string>& wrapper = {}) const {
    return std::make_unique<cli_process>(args, env, dir_, wrapper);
  }
  ran run(const std::vector<std::string>& args, std::map<std::string, std::string> env) const {
    cli_process p(args, env, dir_);
    int status = p.wait();
    return {status, p.out(), p.err()};
  }
  fs::path file(const std::string& name) const { return dir_ / name; }
  // `fleet down` stops each of `pids` (the fleet's servers, from `fleet status --json`), and
  // `fleet status` then finds none running.
  void expect_fleet_down(const std::string& dir, const std::map<std::string, std::string>& env,
                         const std::vector<pid_t>& pids) const {
    ran down = run({"fleet", "down", "--dir", dir}, env);
    EXPECT_EQ(down.status, 0) << down.err;
    const std::string count = std::to_string(pids.size());
    EXPECT_THAT(down.err, HasSubstr("stopped " + count + " of " + count + " servers"));
    for (pid_t pid : pids)
      EXPECT_FALSE(alive(pid)) << pid;
    EXPECT_EQ(run({"fleet", "status", "--dir", dir}, env).status, 3);
  }
  // A shell command line for the child, with `{dir}` replaced by this test's directory.
  std::string script(std::string text) const {
    for (std::size_t at; (at = text.find("{dir}")) != std::string::npos;)
      text.replace(at, 5, dir_.string());
    return text;
  }

  fs::path dir_;
  static inline int made_ = 0;
};

TEST_F(CliTest, TwoExecsOnOneResourceRunOneAfterTheOther) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  const std::string body =
      script("echo start $$ >> {dir}/log; sleep 0.4; echo end $$ >> {dir}/log");
  auto a = start({"exec", "-w", "30s", "shared", "--", "sh", "-c", body}, env);
  auto b = start({"exec", "-w", "30s", "shared", "--", "sh", "-c", body}, env);
  EXPECT_EQ(a->wait(), 0) << a->err();
  EXPECT_EQ(b->wait(), 0) << b->err();
  std::istringstream log(read_text(file("log")));
  std::vector<std::pair<std::string, std::string>> lines;
  for (std::string what, pid; log >> what >> pid;)
    lines.emplace_back(what, pid);
  ASSERT_EQ(lines.size(), 4u) << read_text(file("log"));
  EXPECT_EQ(lines[0].first, "start");
  EXPECT_EQ(lines[1], std::make_pair(std::string("end"), lines[0].second));
  EXPECT_EQ(lines[2].first, "start");
  EXPECT_NE(lines[2].second, lines[0].second);
  EXPECT_EQ(lines[3], std::make_pair(std::string("end"), lines[2].second));
  EXPECT_TRUE(keys_gone_soon(*fleet, "shared"));
}

TEST_F(CliTest, ABusyLockGivesTheConflictStatusAfterTheWaitAndTheCommandDoesNotRun) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  auto locks = client::create(options_for(*fleet));
  ASSERT_TRUE(locks) << locks.message();
  auto held = locks->acquire("busy", ttl_of(milliseconds(30'000)));
  ASSERT_TRUE(held) << held.message();
  const std::string touch = script("touch {dir}/ran");
  const auto t0 = std::chrono::steady_clock::now();
  ran waited = run({"exec", "-w", "300ms", "-E", "42", "busy", "--", "sh", "-c", touch}, env);
  EXPECT_EQ(waited.status, 42) << waited.err;
  EXPECT_GE(since(t0), milliseconds(300));
  EXPECT_THAT(waited.err, HasSubstr("'busy' is held by another owner"));
  ran once = run({"exec", "-n", "busy", "--", "sh", "-c", touch}, env);
  EXPECT_EQ(once.status, 1) << once.err;
  ran acquire = run({"acquire", "-n", "busy"}, env);
  EXPECT_EQ(acquire.status, 1) << acquire.err;
  EXPECT_FALSE(fs::exists(file("ran")));
}

TEST_F(CliTest, ExecPassesOnTheStatusAndTheLockVariablesAndReleasesAfterwards) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  ran r = run({"exec", "--fence", "job", "--", "sh", "-c",
               script("echo $REDLOCK_RESOURCE $REDLOCK_TOKEN $REDLOCK_FENCE > {dir}/env; exit 7")},
              env);
  EXPECT_EQ(r.status, 7) << r.err;
  std::string seen = read_text(file("env"));
  EXPECT_TRUE(std::regex_match(seen, std::regex("job [0-9a-f]{32} [1-9][0-9]*\n"))) << seen;
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
  EXPECT_EQ(run({"exec", "job", "--", "sh", "-c", "kill -9 $$"}, env).status, 128 + SIGKILL);
  ran missing = run({"exec", "job", "--", "/nonexistent/command"}, env);
  EXPECT_EQ(missing.status, 127);
  EXPECT_THAT(missing.err, HasSubstr("cannot run '/nonexistent/command'"));
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

TEST_F(CliTest, SignalsToRedlockAreForwardedToTheCommand) {
  start_fleet(3);
  auto p = start({"exec", "job", "--", "sh", "-c",
                  script("trap 'echo USR1 >> {dir}/got' USR1; "
                         "trap 'echo TERM >> {dir}/got; exit 5' TERM; "
                         "touch {dir}/ready; while :; do sleep 0.05; done")},
                 env_for(fleet->urls()));
  ASSERT_TRUE(eventually([&] { return fs::exists(file("ready")); }, milliseconds(20'000)))
      << p->err();
  p->signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return read_text(file("got")) == "USR1\n"; })) << p->err();
  EXPECT_TRUE(p->running());
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(), 5) << p->err();
  EXPECT_EQ(read_text(file("got")), "USR1\nTERM\n");
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

TEST_F(CliTest, ALockLostThroughTheFaultProxyStopsTheCommandWithItsOwnStatus) {
  start_fleet(3);
  std::vector<std::unique_ptr<fault_proxy>> proxies;
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    proxies.push_back(std::make_unique<fault_proxy>(fleet->port(i)));
    urls.push_back(proxies.back()->url());
  }
  auto env = env_for(urls);
  // Stops on SIGTERM.
  auto polite = start({"exec", "--ttl", "1500ms", "--grace", "5s", "job", "--", "sh", "-c",
                       script("sleep 60 & echo $! > {dir}/grandchild; "
                              "trap 'echo TERM > {dir}/term; exit 0' TERM; touch {dir}/ready; "
                              "while :; do sleep 0.05; done")},
                      env);
  ASSERT_TRUE(eventually([&] { return fs::exists(file("ready")); }, milliseconds(20'000)))
      << polite->err();
  for (auto& p : proxies)
    p->blackhole();
  EXPECT_EQ(polite->wait(), 4) << polite->err();
  EXPECT_EQ(read_text(file("term")), "TERM\n");
  EXPECT_THAT(polite->err(), HasSubstr("the lock on job was lost"));
  // What the command started stops too: it ran in the command's process group.
  const pid_t grandchild = std::stoi(read_text(file("grandchild")));
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); })) << grandchild;

  // Ignores SIGTERM: SIGKILL after the grace period.
  for (auto& p : proxies)
    p->pass();
  auto stubborn =
      start({"exec", "-w", "20s", "--ttl", "1500ms", "--grace", "300ms", "job2", "--", "sh", "-c",
             script("trap '' TERM; echo $$ > {dir}/pid; "
                    "while :; do sleep 0.05; done")},
            env);
  ASSERT_TRUE(eventually([&] { return !read_text(file("pid")).empty(); }, milliseconds(20'000)))
      << stubborn->err();
  pid_t child = std::stoi(read_text(file("pid")));
  for (auto& p : proxies)
    p->blackhole();
  EXPECT_EQ(stubborn->wait(), 4) << stubborn->err();
  EXPECT_FALSE(alive(child));
}

TEST_F(CliTest, AWaitWithoutLimitWarnsOnceWhenNoMajorityCanVoteAndAGrantStillComesLater) {
  start_fleet(3);
  for (std::size_t i = 0; i < fleet->size(); ++i)
    fleet->kill(i);  // their ports now refuse connections
  // And a fourth node whose host does not resolve, with a password that must not be shown.
  std::vector<std::string> urls = fleet->urls();
  urls.push_back("redis://u:s3cret@no-such-host.invalid:6379");
  auto env = env_for(urls);
  const auto warned = [](cli_process& p) {
    return p.err().find("still waiting for") != std::string::npos;
  };

  // acquire: the warning comes while it still waits (no output for eval yet).
  {
    auto acquiring = start({"acquire", "elsewhere"}, env);
    ASSERT_TRUE(eventually([&] { return warned(*acquiring); }, milliseconds(20'000)))
        << acquiring->err();
    EXPECT_TRUE(acquiring->running()) << acquiring->err();
    EXPECT_THAT(acquiring->err(), HasSubstr("redlock acquire: still waiting for elsewhere"));
    EXPECT_EQ(acquiring->out(), "");
  }  // killed here

  auto p = start({"exec", "job", "--", "sh", "-c", script("touch {dir}/ran")}, env);
  ASSERT_TRUE(eventually([&] { return warned(*p); }, milliseconds(20'000))) << p->err();
  EXPECT_TRUE(p->running()) << p->err();
  const std::string warning = p->err();
  EXPECT_THAT(warning, HasSubstr("redlock exec: still waiting for job (no --wait: without limit), "
                                 "but only 0 of 4 nodes can vote and 3 are needed:\n"));
  for (std::size_t i = 0; i < fleet->size(); ++i)
    EXPECT_THAT(warning, HasSubstr("  " + fleet->url(i) + "  down: ")) << i;
  EXPECT_THAT(warning, HasSubstr("  redis://u:***@no-such-host.invalid:6379  "));
  EXPECT_THAT(warning, Not(HasSubstr("s3cret")));
  EXPECT_FALSE(fs::exists(file("ran")));

  // The nodes come back: the wait goes on to the grant, and the warning was the only one.
  for (std::size_t i = 0; i < fleet->size(); ++i)
    fleet->restart(i);
  EXPECT_EQ(p->wait(), 0) << p->err();
  EXPECT_TRUE(fs::exists(file("ran")));
  const std::string err = p->err();
  std::size_t warnings = 0;
  for (std::size_t at = 0; (at = err.find("still waiting for", at)) != std::string::npos; ++at)
    ++warnings;
  EXPECT_EQ(warnings, 1u) << err;
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

TEST_F(CliTest, ExecKeepsTheLockAlivePastItsTtlWhileTheCommandRuns) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  auto holder = start({"exec", "--ttl", "1s", "job", "--", "sh", "-c",
                       script("touch {dir}/ready; while [ ! -e {dir}/go ]; do sleep 0.05; done")},
                      env);
  ASSERT_TRUE(eventually([&] { return fs::exists(file("ready")); }, milliseconds(20'000)))
      << holder->err();
  // Twice the ttl: without the extensions every key would have expired by now.
  std::this_thread::sleep_for(milliseconds(2000));
  ran second = run({"exec", "-n", "job", "--", "sh", "-c", script("touch {dir}/second")}, env);
  EXPECT_EQ(second.status, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("'job' is held by another owner"));
  EXPECT_FALSE(fs::exists(file("second")));
  std::ofstream(file("go")).close();
  EXPECT_EQ(holder->wait(), 0) << holder->err();
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

TEST_F(CliTest, ExecSetsTheFenceOnlyWithFenceAndNeverPassesOnAnInheritedOne) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  // What a script run under an earlier lock (or a stale shell) may still carry.
  env["REDLOCK_FENCE"] = "0";
  env["REDLOCK_TOKEN"] = std::string(32, 'a');
  env["REDLOCK_RESOURCE"] = "stale";
  // The command is env(1) itself, with no shell between: each entry as execve passed it
  // (a shell would fold two entries of one name into one).
  const auto lock_variables = [](const std::string& printed) {
    std::map<std::string, std::vector<std::string>> found;
    std::istringstream lines(printed);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("REDLOCK_", 0) != 0) continue;
      const std::size_t eq = line.find('=');
      found[line.substr(0, eq)].push_back(line.substr(eq + 1));
    }
    return found;
  };
  ran plain = run({"exec", "job", "--", "env"}, env);
  EXPECT_EQ(plain.status, 0) << plain.err;
  auto seen = lock_variables(plain.out);
  EXPECT_EQ(seen.count("REDLOCK_FENCE"), 0u) << plain.out;
  EXPECT_EQ(seen["REDLOCK_RESOURCE"], std::vector<std::string>{"job"});
  ASSERT_EQ(seen["REDLOCK_TOKEN"].size(), 1u) << plain.out;
  EXPECT_TRUE(std::regex_match(seen["REDLOCK_TOKEN"][0], std::regex("[0-9a-f]{32}")));
  EXPECT_NE(seen["REDLOCK_TOKEN"][0], std::string(32, 'a'));

  ran fenced = run({"exec", "--fence", "job", "--", "env"}, env);
  EXPECT_EQ(fenced.status, 0) << fenced.err;
  seen = lock_variables(fenced.out);
  // One REDLOCK_FENCE, the lock's own.
  ASSERT_EQ(seen["REDLOCK_FENCE"].size(), 1u) << fenced.out;
  EXPECT_TRUE(std::regex_match(seen["REDLOCK_FENCE"][0], std::regex("[1-9][0-9]*"))) << fenced.out;
  EXPECT_EQ(seen["REDLOCK_RESOURCE"], std::vector<std::string>{"job"});
  EXPECT_TRUE(keys_gone_soon(*fleet, "job"));
}

TEST_F(CliTest, SigtermWhileExecWaitsForABusyLockExits143AndRunsNothing) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  auto locks = make_client();
  auto held = locks.acquire("busy", ttl_of(milliseconds(30'000)));
  ASSERT_TRUE(held) << held.message();
  wait_all_connected(locks);
  const auto clients = [&] {
    return std::stoi(info_field(fleet->command(0, {"INFO", "clients"}), "connected_clients"));
  };
  const int before = clients();
  auto waiting = start({"exec", "busy", "--", "sh", "-c", script("touch {dir}/ran")}, env);
  // Connected: its signal mask is set by then (it is set before the client is made).
  ASSERT_TRUE(eventually([&] { return clients() > before; }, milliseconds(20'000)))
      << waiting->err();
  EXPECT_TRUE(waiting->running()) << waiting->err();
  waiting->signal(SIGTERM);
  EXPECT_EQ(waiting->wait(), 128 + SIGTERM) << waiting->err();
  EXPECT_THAT(waiting->err(), HasSubstr("stopped by signal 15"));
  EXPECT_THAT(waiting->err(), HasSubstr("while waiting for busy"));
  EXPECT_FALSE(fs::exists(file("ran")));
  EXPECT_TRUE(every_node_has("redlock:busy", held->token())) << "the holder keeps its lock";
}

TEST_F(CliTest, KeysDeletedWhileTheCommandRanGiveTheLostStatus) {
  start_fleet(3);
  auto p = start({"exec", "job", "--", "sh", "-c", script("touch {dir}/ready; sleep 1")},
                 env_for(fleet->urls()));
  ASSERT_TRUE(eventually([&] { return fs::exists(file("ready")); }, milliseconds(20'000)))
      << p->err();
  for (std::size_t i = 0; i < fleet->size(); ++i)
    fleet->command(i, {"DEL", "redlock:job"});
  // The command itself succeeds, but it ran unprotected: never 0.
  EXPECT_EQ(p->wait(), 4) << p->err();
  EXPECT_THAT(p->err(), HasSubstr("was no longer held when the command ended"));
}

TEST_F(CliTest, InheritedDispositionsDoNotHangNorStopIt) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  // SIGCHLD ignored by whoever started redlock: the kernel would reap the command unseen.
  const std::vector<std::string> ignoring = {"sh", "-c", "trap '' CHLD HUP; exec \"$@\"", "sh"};
  auto quick = start({"exec", "-n", "r", "--", "true"}, env, ignoring);
  EXPECT_EQ(quick->wait(milliseconds(20'000)), 0) << quick->err();
  EXPECT_TRUE(keys_gone_soon(*fleet, "r"));
  // SIGHUP ignored (nohup): a hangup neither calls off the wait nor reaches the command.
  auto locks = client::create(options_for(*fleet));
  ASSERT_TRUE(locks) << locks.message();
  auto held = locks->acquire("r", ttl_of(milliseconds(30'000)));
  ASSERT_TRUE(held) << held.message();
  auto waiting = start({"exec", "-w", "20s", "r", "--", "true"}, env, ignoring);
  std::this_thread::sleep_for(milliseconds(300));
  waiting->signal(SIGHUP);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(waiting->running()) << waiting->err();
  ASSERT_TRUE(held->release());
  EXPECT_EQ(waiting->wait(), 0) << waiting->err();
}

TEST_F(CliTest, AcquireExtendAndReleaseFromAScript) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  ran acquired = run({"acquire", "--ttl", "20s", "--json", "report"}, env);
  ASSERT_EQ(acquired.status, 0) << acquired.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(acquired.out, m, std::regex("\"token\":\"([0-9a-f]{32})\"")))
      << acquired.out;
  const std::string token = m[1];
  EXPECT_THAT(acquired.out, HasSubstr("\"valid_ms\":"));
  for (std::size_t i = 0; i < fleet->size(); ++i)
    EXPECT_EQ(fleet->command(i, {"GET", "redlock:report"}), token) << "the lock outlives redlock";

  ran status = run({"status", "report"}, env);
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("report: held on 3 of 3 nodes (a majority)"));
  EXPECT_THAT(status.out + status.err, Not(HasSubstr(token)));

  auto with_token = env;
  with_token["REDLOCK_TOKEN"] = token;
  ran extended = run({"extend", "--ttl", "50s", "report"}, with_token);
  EXPECT_EQ(extended.status, 0) << extended.err;
  EXPECT_THAT(extended.out, HasSubstr("export REDLOCK_VALID_MS="));
  for (std::size_t i = 0; i < fleet->size(); ++i)
    EXPECT_GT(std::stoll(fleet->command(i, {"PTTL", "redlock:report"})), 30'000);

  ran wrong = run({"extend", "report", std::string(32, '0')}, env);
  EXPECT_EQ(wrong.status, 4) << wrong.err;
  ran garbled = run({"release", "report", "not-a-token"}, env);
  EXPECT_EQ(garbled.status, 2) << garbled.err;
  EXPECT_THAT(garbled.err, HasSubstr("invalid option token: must be 32 lowercase hex digits"));

  ran released = run({"release", "report", token}, env);
  EXPECT_EQ(released.status, 0) << released.err;
  EXPECT_TRUE(keys_gone_soon(*fleet, "report"));
  ran again = run({"release", "report", token}, env);
  EXPECT_EQ(again.status, 4) << again.err;
  ran free = run({"status", "--json", "report"}, env);
  EXPECT_THAT(free.out, HasSubstr("\"held_on\":0,\"majority\":false"));
}

TEST_F(CliTest, AcquireWithFenceExtendReleaseAndStatusPrintWhatScriptsParse) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  std::smatch m;
  ran text = run({"acquire", "--fence", "--ttl", "20s", "deploy"}, env);
  ASSERT_EQ(text.status, 0) << text.err;
  ASSERT_TRUE(std::regex_match(text.out, m,
                               std::regex("export REDLOCK_RESOURCE='deploy'\n"
                                          "export REDLOCK_TOKEN=([0-9a-f]{32})\n"
                                          "export REDLOCK_VALID_MS=([0-9]+)\n"
                                          "export REDLOCK_FENCE=([1-9][0-9]*)\n")))
      << text.out;
  const std::string first_token = m[1];
  EXPECT_GT(std::stoll(m[2]), 0);
  EXPECT_LE(std::stoll(m[2]), 20'000);
  const unsigned long long first_fence = std::stoull(m[3]);
  // released_on: the nodes that deleted our key before release returned, which was once a
  // majority confirmed it gone: at least one (a node the acquire never reached also confirms).
  ran released = run({"release", "--json", "deploy", first_token}, env);
  EXPECT_EQ(released.status, 0) << released.err;
  EXPECT_TRUE(std::regex_match(released.out, std::regex("\\{\"released_on\":[123]\\}\n")))
      << released.out;
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "deploy"); }));

  ran json = run({"acquire", "--fence", "--json", "--ttl", "20s", "deploy"}, env);
  ASSERT_EQ(json.status, 0) << json.err;
  ASSERT_TRUE(std::regex_match(json.out, m,
                               std::regex("\\{\"resource\":\"deploy\",\"token\":\"([0-9a-f]{32})\","
                                          "\"valid_ms\":([0-9]+),\"fence\":([0-9]+)\\}\n")))
      << json.out;
  const std::string token = m[1];
  EXPECT_GT(std::stoull(m[3]), first_fence) << "a later grant carries a greater fence";

  ran extended = run({"extend", "--json", "--ttl", "50s", "deploy", token}, env);
  EXPECT_EQ(extended.status, 0) << extended.err;
  ASSERT_TRUE(std::regex_match(extended.out, m, std::regex("\\{\"valid_ms\":([0-9]+)\\}\n")))
      << extended.out;
  EXPECT_GT(std::stoll(m[1]), 20'000) << "the validity of the new ttl";
  EXPECT_LE(std::stoll(m[1]), 50'000);

  // Status: per node, held with the ttl it has left; never the token.
  ran status = run({"status", "--json", "deploy"}, env);
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("{\"resource\":\"deploy\",\"held_on\":3,\"majority\":true,"));
  for (std::size_t i = 0; i < fleet->size(); ++i) {
    std::smatch node;
    const std::regex one("\\{\"endpoint\":\"" + fleet->url(i) +
                         "\",\"state\":\"held\",\"ttl_ms\":([0-9]+)\\}");
    ASSERT_TRUE(std::regex_search(status.out, node, one)) << i << ": " << status.out;
    EXPECT_GT(std::stoll(node[1]), 20'000) << i;
    EXPECT_LE(std::stoll(node[1]), 50'000) << i;
  }
  EXPECT_THAT(status.out + status.err, Not(HasSubstr(token)));
  ran status_text = run({"status", "deploy"}, env);
  EXPECT_EQ(status_text.status, 0) << status_text.err;
  EXPECT_THAT(status_text.out, HasSubstr(fleet->url(0) + "  held  ttl "));
  EXPECT_THAT(status_text.out + status_text.err, Not(HasSubstr(token)));

  // Someone else's lock, taken by the library: status shows it held, and not its token.
  auto locks = make_client();
  auto theirs = locks.acquire("theirs", ttl_of(milliseconds(30'000)));
  ASSERT_TRUE(theirs) << theirs.message();
  ASSERT_TRUE(eventually([&] { return every_node_has("redlock:theirs", theirs->token()); }));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status", "--json", "theirs"}, {"status", "theirs"}}) {
    ran r = run(args, env);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, AnyOf(HasSubstr("\"held_on\":3"), HasSubstr("held on 3 of 3 nodes")));
    EXPECT_THAT(r.out + r.err, Not(HasSubstr(theirs->token()))) << args[1];
  }

  ran done = run({"release", "--json", "deploy", token}, env);
  EXPECT_EQ(done.status, 0) << done.err;
  EXPECT_TRUE(std::regex_match(done.out, std::regex("\\{\"released_on\":[23]\\}\n"))) << done.out;
  EXPECT_TRUE(eventually([&] { return no_keys_left(*fleet, "deploy"); }));
}

TEST_F(CliTest, HealthShowsTheQuarantineOfAFreshFleetAndAServerNamedTwice) {
  start_fleet(3);
  auto quarantined = env_for(fleet->urls());
  quarantined.erase("REDLOCK_QUARANTINE");  // on, as by default: every server started just now
  ran fresh = run({"health"}, quarantined);
  EXPECT_EQ(fresh.status, 3) << fresh.out << fresh.err;
  for (std::size_t i = 0; i < fleet->size(); ++i)
    EXPECT_THAT(fresh.out, HasSubstr(fleet->url(i) + "  connected  does not vote")) << fresh.out;
  const std::regex quarantine_line("\n  quarantined for [0-9.]+m?s: [^\n]+\n");
  std::size_t lines = 0;
  for (std::sregex_iterator it(fresh.out.begin(), fresh.out.end(), quarantine_line), end; it != end;
       ++it)
    ++lines;
  EXPECT_EQ(lines, 3u) << fresh.out;
  EXPECT_THAT(fresh.out, HasSubstr("0 of 3 nodes vote: no majority"));
  ran fresh_json = run({"health", "--json"}, quarantined);
  EXPECT_EQ(fresh_json.status, 3);
  EXPECT_TRUE(std::regex_search(
      fresh_json.out, std::regex("\"quarantine_ms\":[1-9][0-9]*,\"quarantine_reason\":\"[^\"]+\"")))
      << fresh_json.out;

  // The same server twice, by address and by name: one of the two names the other.
  const std::string by_address = "redis://127.0.0.1:" + std::to_string(fleet->port(0));
  const std::string by_name = "redis://localhost:" + std::to_string(fleet->port(0));
  auto twice = env_for({by_address, by_name, fleet->url(1), fleet->url(2)});
  ran dup = run({"health"}, twice);
  EXPECT_EQ(dup.status, 0) << dup.out << dup.err;
  // "ONE  connected  does not vote  latency ...", and on the next line "  same server as OTHER".
  const auto names = [&](const std::string& one, const std::string& other) {
    std::istringstream text(dup.out);
    for (std::string line; std::getline(text, line);) {
      if (line.rfind(one + "  connected  does not vote", 0) != 0) continue;
      return std::getline(text, line) && line == "  same server as " + other;
    }
    return false;
  };
  EXPECT_NE(names(by_name, by_address), names(by_address, by_name)) << dup.out;
  EXPECT_THAT(dup.out, HasSubstr("3 of 4 nodes vote (a majority)"));
  ran dup_json = run({"health", "--json"}, twice);
  EXPECT_THAT(dup_json.out, AnyOf(HasSubstr("\"duplicate_of\":" + json_quoted(by_address)),
                                  HasSubstr("\"duplicate_of\":" + json_quoted(by_name))))
      << dup_json.out;
}

TEST_F(CliTest, HealthShowsEachNodeAndFailsWithoutAMajority) {
  start_fleet(3);
  auto env = env_for(fleet->urls());
  ran all = run({"health", "--json"}, env);
  EXPECT_EQ(all.status, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("\"voting\":3,\"majority\":true"));
  fleet->kill(2);
  ran two = run({"health"}, env);
  EXPECT_EQ(two.status, 0) << two.err;
  EXPECT_THAT(two.out, HasSubstr(fleet->url(2) + "  "));
  EXPECT_THAT(two.out, HasSubstr("2 of 3 nodes vote (a majority)"));
  fleet->kill(1);
  ran one = run({"health", "--json"}, env);
  EXPECT_EQ(one.status, 3) << one.out;
  EXPECT_THAT(one.out, HasSubstr("\"voting\":1,\"majority\":false"));
  EXPECT_THAT(one.out, HasSubstr("connection refused"));
}

TEST_F(CliTest, BadInputExitsWithStatus2AndNamesWhatWasWrong) {
  start_fleet(1);
  auto env = env_for(fleet->urls());
  for (const char* command :
       {"exec", "acquire", "extend", "release", "status", "health", "fleet"}) {
    ran bogus = run({command, "--bogus"}, env);
    EXPECT_EQ(bogus.status, 2) << command;
    EXPECT_THAT(bogus.err,
                HasSubstr("redlock " + std::string(command) + ": unknown option '--bogus'"));
    ran help = run({command, "--help"}, env);
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("usage: redlock " + std::string(command)));
  }
  struct bad {
    std::vector<std::string> args;
    const char* says;
  };
  for (const bad& b : std::vector<bad>{
           {{"acquire", "--ttl", "5", "r"}, "invalid --ttl '5': the unit is missing"},
           {{"exec", "-w", "soon", "r", "--", "true"}, "invalid --wait 'soon'"},
           {{"exec", "-E", "300", "r", "--", "true"}, "invalid --conflict-exit-code '300'"},
           {{"exec", "-n", "-w", "1s", "r", "--", "true"}, "exclude each other"},
           {{"exec", "r"}, "expected RESOURCE -- COMMAND"},
           {{"acquire"}, "expected one RESOURCE"},
           {{"acquire", "--ttl", "100ms", "r"}, "invalid option ttl"},
           {{"status", ""}, "invalid option resource: must not be empty"},
           {{"fleet", "sideways"}, "unknown action 'sideways'"},
           {{"nonsense"}, "unknown command 'nonsense'"},
       }) {
    ran r = run(b.args, env);
    EXPECT_EQ(r.status, 2) << b.args[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(b.says));
  }
  auto no_servers = env;
  no_servers.erase("REDLOCK_SERVERS");
  no_servers["REDLOCK_SERVERS"] = "";
  EXPECT_THAT(run({"status", "r"}, no_servers).err, HasSubstr("no servers"));
  // Passwords never appear, in a refused endpoint or a refused login.
  ran bad_url = run({"acquire", "--servers", "redis://u:s3cret@127.0.0.1:0", "r"}, env);
  EXPECT_EQ(bad_url.status, 2);
  EXPECT_THAT(bad_url.err, HasSubstr("port '0'"));
  EXPECT_THAT(bad_url.out + bad_url.err, Not(HasSubstr("s3cret")));
  const std::string login = "redis://u:s3cret@127.0.0.1:" + std::to_string(fleet->port(0));
  for (const char* command : {"acquire", "health", "status"}) {
    std::vector<std::string> args = {command, "--servers", login, "-n", "r"};
    if (std::string(command) != "acquire") args = {command, "--servers", login};
    if (std::string(command) == "status") args.push_back("r");
    ran refused = run(args, env);
    EXPECT_NE(refused.status, 0) << command;
    EXPECT_THAT(refused.out + refused.err, Not(HasSubstr("s3cret"))) << command;
  }
}

TEST_F(CliTest, FleetUpAndDownLeaveNoProcessBehind) {
  const std::string dir = (dir_ / "fleet").string();
  std::map<std::string, std::string> env = {{"REDLOCK_NODE_TIMEOUT", "500ms"}};
  ran up = run({"fleet", "up", "--nodes", "3", "--dir", dir, "--env"}, env);
  ASSERT_EQ(up.status, 0) << up.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(up.out, m, std::regex("export REDLOCK_SERVERS='([^']+)'")))
      << up.out;
  EXPECT_THAT(up.out, HasSubstr("export REDLOCK_QUARANTINE=off"));
  env["REDLOCK_SERVERS"] = m[1];
  env["REDLOCK_QUARANTINE"] = "off";

  ran status = run({"fleet", "status", "--dir", dir, "--json"}, env);
  EXPECT_EQ(status.status, 0) << status.err;
  const std::vector<pid_t> pids = pids_in(status.out);
  ASSERT_EQ(pids.size(), 3u) << status.out;

  EXPECT_EQ(run({"exec", "-n", "tried", "--", "true"}, env).status, 0);
  ran twice = run({"fleet", "up", "--dir", dir}, env);
  EXPECT_EQ(twice.status, 3);
  EXPECT_THAT(twice.err, HasSubstr("a fleet already runs in " + dir));
  expect_fleet_down(dir, env, pids);
}

TEST_F(CliTest, FleetUpWithPersistenceSyncsEveryWriteAndPrintsEndpointsServersTakes) {
  const std::string dir = (dir_ / "persistent-fleet").string();
  std::map<std::string, std::string> env = {{"REDLOCK_NODE_TIMEOUT", "500ms"},
                                            {"REDLOCK_QUARANTINE", "off"}};
  ran up = run({"fleet", "up", "--persistence", "--nodes", "3", "--dir", dir}, env);
  ASSERT_EQ(up.status, 0) << up.err;
  // The plain output: one line, the endpoints as --servers takes them.
  ASSERT_TRUE(std::regex_match(up.out, std::regex("redis://127\\.0\\.0\\.1:[0-9]+(,redis://"
                                                  "127\\.0\\.0\\.1:[0-9]+){2}\n")))
      << up.out;
  const std::string servers = up.out.substr(0, up.out.size() - 1);
  std::string rest = servers;
  std::size_t seen = 0;
  for (std::smatch p; std::regex_search(rest, p, std::regex(":([0-9]+)")); rest = p.suffix()) {
    ++seen;
    resp_link node(static_cast<std::uint16_t>(std::stoi(p[1])), milliseconds(2000));
    EXPECT_EQ(node.call({"CONFIG", "GET", "appendonly"}).fields()["appendonly"], "yes") << p[1];
    EXPECT_EQ(node.call({"CONFIG", "GET", "appendfsync"}).fields()["appendfsync"], "always")
        << p[1];
  }
  EXPECT_EQ(seen, 3u);

  ran acquired = run({"acquire", "--servers", servers, "--json", "printed"}, env);
  EXPECT_EQ(acquired.status, 0) << acquired.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(acquired.out, m, std::regex("\"token\":\"([0-9a-f]{32})\"")))
      << acquired.out;
  ran released = run({"release", "--servers", servers, "printed", m[1]}, env);
  EXPECT_EQ(released.status, 0) << released.err;

  ran status = run({"fleet", "status", "--dir", dir, "--json"}, env);
  const std::vector<pid_t> pids = pids_in(status.out);
  ASSERT_EQ(pids.size(), 3u) << status.out;
  expect_fleet_down(dir, env, pids);
}

TEST_F(CliTest, FleetUpWithTlsServesRedissWithItsOwnCa) {
  REDLOCK_REQUIRE_OR_SKIP(tls_unavailable_reason());
  const std::string dir = (dir_ / "tls-fleet").string();
  std::map<std::string, std::string> env = {{"REDLOCK_NODE_TIMEOUT", "500ms"}};
  ran up = run({"fleet", "up", "--tls", "--nodes", "1", "--dir", dir, "--json"}, env);
  ASSERT_EQ(up.status, 0) << up.err;
  std::smatch servers, ca;
  ASSERT_TRUE(std::regex_search(up.out, servers, std::regex("\"servers\":\"(rediss://[^\"]+)\"")))
      << up.out;
  ASSERT_TRUE(std::regex_search(up.out, ca, std::regex("\"tls_ca_file\":\"([^\"]+)\"")));
  env["REDLOCK_SERVERS"] = servers[1];
  env["REDLOCK_QUARANTINE"] = "off";
  ran untrusted = run({"exec", "-n", "t", "--", "true"}, env);
  EXPECT_EQ(untrusted.status, 3);
  EXPECT_THAT(untrusted.err, HasSubstr("certificate verify failed"));
  env["REDLOCK_TLS_CA_FILE"] = ca[1];
  ran trusted = run({"exec", "-n", "t", "--", "true"}, env);
  EXPECT_EQ(trusted.status, 0) << trusted.err;
  EXPECT_EQ(run({"fleet", "down", "--dir", dir}, env).status, 0);
  EXPECT_EQ(run({"fleet", "status", "--dir", dir}, env).status, 3);
}

TEST_F(CliTest, FleetUpWithSentinelStartsGroupsWhoseSentinelsNameTheirMaster) {
  const std::string dir = (dir_ / "sentinel-fleet").string();
  std::map<std::string, std::string> env = {{"REDLOCK_NODE_TIMEOUT", "500ms"}};
  ran up = run({"fleet", "up", "--sentinel", "--nodes", "2", "--dir", dir, "--env"}, env);
  ASSERT_EQ(up.status, 0) << up.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(up.out, m, std::regex("export REDLOCK_SERVERS='([^']+)'")))
      << up.out;
  const std::regex group_url(
      "redis\\+sentinel://"
      "127\\.0\\.0\\.1:([0-9]+),127\\.0\\.0\\.1:([0-9]+),127\\.0\\.0\\.1:([0-9]+)/"
      "(group[0-9]+)");
  std::vector<std::string> groups;
  std::string servers = m[1];
  for (std::smatch g; std::regex_search(servers, g, group_url); servers = g.suffix()) {
    const std::string name = g[4];
    groups.push_back(name);
    for (std::size_t s = 1; s <= 3; ++s) {
      resp_link sentinel(static_cast<std::uint16_t>(std::stoi(g[s])), milliseconds(2000));
      reply master = sentinel.call({"SENTINEL", "get-master-addr-by-name", name});
      ASSERT_EQ(master.elements.size(), 2u) << name << " sentinel " << s << ": " << master.render();
      EXPECT_EQ(master.elements[0].str, "127.0.0.1");
      // What it names is a master, and its replica is in sync.
      resp_link data(static_cast<std::uint16_t>(std::stoi(master.elements[1].str)),
                     milliseconds(2000));
      const std::string info = data.call({"INFO", "replication"}).str;
      EXPECT_EQ(info_field(info, "role"), "master") << name;
      EXPECT_THAT(info_field(info, "slave0"), HasSubstr("state=online")) << name;
    }
  }
  EXPECT_EQ(groups, (std::vector<std::string>{"group1", "group2"})) << m[1];

  // The fleet as the other commands use it: a lock taken with replica acknowledgement, and
  // each group's master in health.
  EXPECT_THAT(up.out, HasSubstr("export REDLOCK_REPLICA_ACKS=1"));
  std::map<std::string, std::string> use = env;
  use["REDLOCK_SERVERS"] = m[1];
  use["REDLOCK_QUARANTINE"] = "off";
  use["REDLOCK_REPLICA_ACKS"] = "1";
  ran locked = run({"exec", "job", "--", "true"}, use);
  EXPECT_EQ(locked.status, 0) << locked.err;
  ran health = run({"health"}, use);
  EXPECT_EQ(health.status, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("  master 127.0.0.1:")) << health.out;
  EXPECT_THAT(health.out, HasSubstr("2 of 2 nodes vote")) << health.out;

  ran status = run({"fleet", "status", "--dir", dir, "--json"}, env);
  EXPECT_EQ(status.status, 0) << status.err;
  const std::vector<pid_t> pids = pids_in(status.out);
  ASSERT_EQ(pids.size(), 10u) << status.out;  // 2 groups: a master, a replica, 3 sentinels each
  EXPECT_THAT(status.out, HasSubstr("\"group\":\"group2\",\"kind\":\"sentinel\""));
  expect_fleet_down(dir, env, pids);
}

TEST_F(CliTest, FleetUpWithSentinelAndTlsIsRefused) {
  const std::string dir = (dir_ / "refused-fleet").string();
  ran up = run({"fleet", "up", "--sentinel", "--tls", "--dir", dir}, {});
  EXPECT_EQ(up.status, 2);
  EXPECT_THAT(up.err, HasSubstr("--sentinel and --tls together are not supported yet"));
  EXPECT_EQ(run({"fleet", "status", "--dir", dir}, {}).status, 3) << "nothing started";
}

}  // namespace
}  // namespace redlock::testing
