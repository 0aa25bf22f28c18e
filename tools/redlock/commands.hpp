// The subcommands of the `redlock` tool, for main() to dispatch and describe.
#pragma once

#include <string>
#include <vector>

#include "args.hpp"

namespace redlock::cli {

struct command {
  std::string name;
  std::string synopsis;  // after "redlock NAME "
  std::string about;     // what --help prints above the flags
  std::vector<flag> flags;
  bool stop_at_positional = false;  // exec: the command's own flags are not ours
  int (*run)(const parsed_args& args, const env_lookup& env) = nullptr;
};

// Every subcommand, in the order `redlock --help` lists them.
const std::vector<command>& commands();

// Defined in lock_commands.cpp, exec.cpp and fleet.cpp.
command acquire_command();
command extend_command();
command release_command();
command status_command();
command health_command();
command exec_command();
command fleet_command();

}  // namespace redlock::cli
