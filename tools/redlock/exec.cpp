// redlock exec: runs a command while holding a lock, like flock(1) across a fleet.
//
// Signals: the ones redlock forwards (INT, TERM, HUP, QUIT, USR1, USR2; those redlock was
// started with ignored stay ignored), SIGCHLD and the lease's lost signal are blocked in every
// thread (before the client's loop thread starts) and taken by sigtimedwait on the main
// thread only, so no handler runs in an arbitrary thread. The command gets the original mask
// back before it runs.
//
// The command runs in a process group of its own, so that a lost lock stops everything it
// started, not only the command itself (as timeout(1) does). When redlock owns the terminal,
// it hands the terminal to that group while the command runs, and takes it back after.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <iostream>

#include "commands.hpp"
#include "redlock/redlock.hpp"
#include "tool.hpp"

extern char** environ;

namespace redlock::cli {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
constexpr milliseconds default_grace{10'000};

// Raised by the lease's on_lost callback (on the client's loop thread) for the main thread.
int lost_signal() {
  return SIGRTMIN;
}

// A signal this process was started with ignored (nohup's SIGHUP) is neither watched nor
// forwarded: it stays ignored, for redlock and for the command.
bool ignored(int s) {
  struct sigaction now {};
  return sigaction(s, nullptr, &now) == 0 && now.sa_handler == SIG_IGN;
}

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : forwarded)
    if (!ignored(s)) sigaddset(&set, s);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, lost_signal());
  return set;
}

// The next watched signal, or 0 after `wait` with none.
int next_signal(const sigset_t& set, milliseconds wait, siginfo_t& info) {
  timespec t{};
  t.tv_sec = static_cast<time_t>(wait.count() / 1000);
  t.tv_nsec = static_cast<long>(wait.count() % 1000) * 1'000'000;
  int s = sigtimedwait(&set, &info, &t);
  return s < 0 ? 0 : s;
}

bool is_forwarded(int s) {
  for (int f : forwarded)
    if (f == s) return true;
  return false;
}

// This process's environment, with the lock's variables set.
std::vector<std::string> child_environment(const lease& held) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("REDLOCK_RESOURCE=", 0) == 0 || entry.rfind("REDLOCK_TOKEN=", 0) == 0 ||
        entry.rfind("REDLOCK_FENCE=", 0) == 0)
      continue;
    env.emplace_back(entry);
  }
  env.push_back("REDLOCK_RESOURCE=" + held.resource());
  env.push_back("REDLOCK_TOKEN=" + held.token());
  if (held.fence()) env.push_back("REDLOCK_FENCE=" + std::to_string(*held.fence()));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The command's pid, or the errno that kept it from running (reported by the child through a
// close-on-exec pipe).
struct started_command {
  pid_t pid = -1;
  int error = 0;
};

// Starts the command with `mask` restored, as the leader of a new process group, which gets
// the terminal when `give_terminal`. It is killed if redlock dies (its lock would expire).
started_command start_command(std::vector<std::string> argv, std::vector<std::string> env,
                              const sigset_t& mask, bool give_terminal) {
  std::vector<char*> c_argv = c_strings(argv);
  std::vector<char*> c_env = c_strings(env);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return {-1, errno};
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(report[0]);
    close(report[1]);
    return {-1, err};
  }
  if (pid == 0) {  // the child: async-signal-safe calls only
    close(report[0]);
    setpgid(0, 0);
    if (give_terminal) tcsetpgrp(STDIN_FILENO, getpid());  // SIGTTOU is blocked here
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    execvpe(c_argv[0], c_argv.data(), c_env.data());
    int err = errno;
    ssize_t ignored = write(report[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(report[1]);
  setpgid(pid, pid);  // also here: the group exists before any signal is sent to it
  int err = 0;
  ssize_t n;
  do {
    n = read(report[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    waitpid(pid, nullptr, 0);
    return {-1, err};
  }
  return {pid, 0};
}

int run_exec(const parsed_args& args, const env_lookup& env) {
  if (args.positional.size() < 2) {
    throw usage_error("expected RESOURCE -- COMMAND [ARGS...] (see redlock exec --help)");
  }
  const std::string& resource = args.positional[0];
  std::vector<std::string> argv(args.positional.begin() + 1, args.positional.end());
  acquire_choice choice = acquire_choice_from(args);
  milliseconds grace = default_grace;
  if (const std::string* v = args.value("grace")) grace = parse_duration(*v, "--grace");

  // An ignored SIGCHLD (inherited through exec) would let the kernel reap the command, and
  // waitpid would never see it end.
  signal(SIGCHLD, SIG_DFL);
  const sigset_t watched = watched_signals();
  sigset_t blocked = watched;
  sigaddset(&blocked, SIGTTOU);  // taking the terminal back from the command's group
  sigset_t original;
  pthread_sigmask(SIG_BLOCK, &blocked, &original);
  // Never unblocked again: a lost signal or a forwarded one still pending when redlock exits
  // must not end it with a signal's status instead of its own.

  choice.options.auto_extend.enabled = true;
  choice.options.on_lost = [](const lease_lost&) { kill(getpid(), lost_signal()); };
  cancel_token stop;
  choice.options.cancel = stop;
  client locks = make_client(args, env);

  // The acquire may wait for long: a terminating signal meanwhile calls it off.
  auto acquiring =
      std::async(std::launch::async, [&] { return locks.acquire(resource, choice.options); });
  stalled_wait_warning warning("exec", resource, choice.options.wait == milliseconds::max());
  int stopped_by = 0;
  while (acquiring.wait_for(milliseconds(0)) != std::future_status::ready) {
    warning.check(locks, std::cerr);
    siginfo_t info{};
    int s = next_signal(watched, milliseconds(20), info);
    if (s != 0 && s != SIGCHLD && s != lost_signal() && stopped_by == 0) {
      stopped_by = s;
      stop.cancel();
    }
  }
  result<lease> held = acquiring.get();
  if (!held) {
    if (held.error() == errc::cancelled && stopped_by != 0) {
      std::cerr << "redlock exec: stopped by signal " << stopped_by << " (" << strsignal(stopped_by)
                << ") while waiting for " << resource << '\n';
      return 128 + stopped_by;
    }
    report_failure(std::cerr, "exec", held);
    return held.error() == errc::held_elsewhere ? choice.conflict_status : status_for(held.error());
  }
  if (stopped_by != 0) {  // granted just as the signal came
    (void)held->release();
    return 128 + stopped_by;
  }

  const bool give_terminal = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
  started_command started = start_command(argv, child_environment(*held), original, give_terminal);
  if (started.error != 0) {
    if (give_terminal) tcsetpgrp(STDIN_FILENO, getpgrp());  // the child may have taken it
    std::cerr << "redlock exec: cannot run '" << argv[0] << "': " << std::strerror(started.error)
              << '\n';
    (void)held->release();
    return started.error == ENOENT ? 127 : 126;
  }
  const pid_t child = started.pid;  // and its process group

  bool lost = false;
  bool killed = false;
  steady_clock::time_point kill_at{};
  int status = 0;
  for (;;) {
    siginfo_t info{};
    int s = next_signal(watched, milliseconds(100), info);
    pid_t ended = waitpid(child, &status, WNOHANG);
    if (ended == child) break;
    if (ended < 0 && errno == ECHILD) {  // reaped by someone else: its status is unknown
      status = W_EXITCODE(exit_status::failure, 0);
      break;
    }
    if (!lost && (s == lost_signal() || held->lost())) {
      lost = true;
      // SIGKILL after the grace period, and never past the validity: from then on another
      // client may hold the lock.
      kill_at = std::min(steady_clock::now() + grace, held->valid_until());
      std::optional<lease_lost> why = held->lost_reason();
      std::cerr << "redlock exec: the lock on " << resource << " was lost"
                << (why ? ": " + why->message : std::string(" (its validity ran out)"))
                << "; stopping the command (SIGTERM, SIGKILL after "
                << duration_text(std::chrono::duration_cast<milliseconds>(
                       std::max(kill_at - steady_clock::now(), steady_clock::duration::zero())))
                << ")\n";
      kill(-child, SIGTERM);
    } else if (is_forwarded(s)) {
      kill(-child, s);
    }
    if (lost && !killed && steady_clock::now() >= kill_at) {
      kill(-child, SIGKILL);
      killed = true;
    }
  }
  if (give_terminal) tcsetpgrp(STDIN_FILENO, getpgrp());
  lost = lost || held->lost();
  if (lost) kill(-child, SIGKILL);  // what the command left running must stop too
  result<void> released = held->release();
  if (!released && !lost) report_failure(std::cerr, "exec", released);
  // A majority that no longer had our key when the command ended means the keys were deleted
  // or taken meanwhile (by hand, or expired unseen): the command may have run unprotected.
  const std::size_t nodes = released.tally().nodes().size();
  if (!lost && released.tally().refused() >= nodes / 2 + 1) {
    lost = true;
    std::cerr << "redlock exec: the lock on " << resource << " was no longer held when the "
              << "command ended: " << released.tally().refused() << " of " << nodes
              << " nodes had no key of ours\n";
  }
  if (lost) {
    if (WIFEXITED(status) && !killed) {
      std::cerr << "redlock exec: the lock on " << resource
                << " was lost while the command ran; it exited with status " << WEXITSTATUS(status)
                << '\n';
    }
    return exit_status::lost;
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

command exec_command() {
  std::vector<flag> own = acquire_flags();
  own.push_back(
      {"grace", 0, true, "D",
       "after the lock is lost: SIGTERM, then SIGKILL after D (10s), or once the validity ends"});
  own.insert(own.end(), client_flags().begin(), client_flags().end());
  return {"exec",
          "[OPTIONS] RESOURCE -- COMMAND [ARGS...]",
          "Takes RESOURCE, runs COMMAND while keeping the lock alive (auto-extension), releases\n"
          "it when the command ends, and exits with the command's status. The command gets\n"
          "REDLOCK_RESOURCE, REDLOCK_TOKEN and, with --fence, REDLOCK_FENCE. Signals sent to\n"
          "redlock are passed on to it. If the lock is lost while it runs, the command gets\n"
          "SIGTERM, then SIGKILL after --grace, and redlock exits with status 4.\n"
          "Exit status: the command's; 128+N if it was killed by signal N; 1 (or -E N) if the\n"
          "lock stayed busy; 2 usage; 3 no majority; 4 lock lost; 126/127 command not run.",
          own,
          true,
          run_exec};
}

}  // namespace redlock::cli
