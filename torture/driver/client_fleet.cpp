#include "client_fleet.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace redlock::torture {

client_fleet::client_fleet(std::string self, std::string dir, std::vector<std::string> base,
                           std::vector<std::string> endpoints, std::uint64_t seed)
    : self_(std::move(self)),
      dir_(std::move(dir)),
      base_(std::move(base)),
      endpoints_(std::move(endpoints)),
      seed_(seed) {}

client_fleet::~client_fleet() {
  for (slot& s : slots_) {
    if (s.pid <= 0) continue;
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
  }
}

void client_fleet::start(std::size_t k) {
  slots_.resize(k);
  for (std::size_t i = 0; i < k; ++i)
    spawn(i);
}

void client_fleet::spawn(std::size_t i) {
  slot& s = slots_[i];
  s.name = "c" + std::to_string(i + 1);
  if (s.generation > 0) s.name += "." + std::to_string(s.generation);
  const std::string history = dir_ + "/" + s.name + ".jsonl";
  // Created here, not by the client: a client killed before it opens its file (the fault
  // runner may kill a replacement at once) leaves an empty history, not a missing one that the
  // checker would refuse.
  const int fd = ::open(history.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(history + ": cannot create: " + std::strerror(errno));
  ::close(fd);
  histories_.push_back(history);
  std::vector<std::string> args = {
      self_,
      "--client-mode",
      "--name",
      s.name,
      "--history",
      history,
      "--seed",
      std::to_string(seed_ * 1'000'003 + i * 1000 + static_cast<std::uint64_t>(s.generation)),
      "--endpoints",
      endpoints_[i]};
  args.insert(args.end(), base_.begin(), base_.end());
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::execv(self_.c_str(), argv.data());
    ::_exit(127);
  }
  s.pid = pid;
  s.paused = false;
}

void client_fleet::pause(std::size_t i) {
  slot& s = slots_[i];
  if (s.paused || s.pid <= 0) return;
  ::kill(s.pid, SIGSTOP);
  s.paused = true;
  s.paused_at = std::chrono::steady_clock::now();
}

void client_fleet::end_pause(slot& s) {
  pauses_.push_back({s.name, {s.paused_at, std::chrono::steady_clock::now()}});
  s.paused = false;
}

void client_fleet::resume(std::size_t i) {
  slot& s = slots_[i];
  if (!s.paused) return;
  ::kill(s.pid, SIGCONT);
  end_pause(s);
}

void client_fleet::kill_and_replace(std::size_t i) {
  slot& s = slots_[i];
  if (s.pid > 0) {
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
  }
  if (s.paused) end_pause(s);
  ++s.generation;
  spawn(i);
}

std::size_t client_fleet::stop_all(std::chrono::milliseconds grace) {
  for (std::size_t i = 0; i < slots_.size(); ++i)
    resume(i);
  for (slot& s : slots_)
    if (s.pid > 0) ::kill(s.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::size_t killed = 0;
  for (slot& s : slots_) {
    if (s.pid <= 0) continue;
    for (;;) {
      pid_t done = ::waitpid(s.pid, nullptr, WNOHANG);
      if (done == s.pid || done < 0) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(s.pid, SIGKILL);
        ::waitpid(s.pid, nullptr, 0);
        ++killed;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.pid = -1;
  }
  return killed;
}

}  // namespace redlock::torture
