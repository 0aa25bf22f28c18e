// client_fleet: the driver's K client processes, each this binary re-executed with
// --client-mode. A slot keeps its place when its process is killed: the replacement gets a new
// name (c2, then c2.1, c2.2, ...) and so a new history file. Pauses (SIGSTOP to SIGCONT, or to
// the kill) are recorded for the checker (rule 6).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "checker.hpp"
#include "run_options.hpp"

namespace redlock::torture {

class client_fleet {
 public:
  // `base` holds the flags every client gets (store port, effects, ...); `endpoints[i]` the
  // --endpoints of slot i (its own proxies).
  client_fleet(std::string self, std::string dir, std::vector<std::string> base,
               std::vector<std::string> endpoints, std::uint64_t seed);
  ~client_fleet();  // SIGKILLs and reaps what still runs
  client_fleet(const client_fleet&) = delete;
  client_fleet& operator=(const client_fleet&) = delete;

  void start(std::size_t k);
  std::size_t size() const { return slots_.size(); }
  const std::string& name(std::size_t i) const { return slots_[i].name; }
  bool paused(std::size_t i) const { return slots_[i].paused; }

  void pause(std::size_t i);
  void resume(std::size_t i);
  // SIGKILL, reap, and start the replacement.
  void kill_and_replace(std::size_t i);
  // Resumes every paused client, SIGTERMs all, waits up to `grace`, then SIGKILLs the rest.
  // Returns how many had to be killed.
  std::size_t stop_all(std::chrono::milliseconds grace);

  const std::vector<std::string>& histories() const { return histories_; }
  const std::vector<torture::pause>& pauses() const { return pauses_; }

 private:
  struct slot {
    std::string name;
    pid_t pid = -1;
    bool paused = false;
    time_point paused_at;
    int generation = 0;
  };
  void spawn(std::size_t i);
  void end_pause(slot& s);

  std::string self_;
  std::string dir_;
  std::vector<std::string> base_;
  std::vector<std::string> endpoints_;
  std::uint64_t seed_;
  std::vector<slot> slots_;
  std::vector<std::string> histories_;
  std::vector<torture::pause> pauses_;
};

}  // namespace redlock::torture
