// redlock: the command-line tool (docs/cli.md). `redlock COMMAND --help` describes each.
#include <exception>
#include <iostream>

#include "commands.hpp"
#include "tool.hpp"

namespace redlock::cli {

const std::vector<command>& commands() {
  static const std::vector<command> all = {exec_command(),    acquire_command(), extend_command(),
                                           release_command(), status_command(),  health_command(),
                                           fleet_command()};
  return all;
}

namespace {

const flag help_flag{"help", 'h', false, "", "show this help"};

void print_overview(std::ostream& out) {
  out << "usage: redlock COMMAND [OPTIONS] ...\n\n"
         "A distributed lock on N Redis masters (Redlock). Commands:\n";
  for (const command& c : commands())
    out << "  redlock " << c.name << ' ' << c.synopsis << '\n';
  out << "\n`redlock COMMAND --help` for each one's options. Servers come from --servers or\n"
         "REDLOCK_SERVERS. Exit status: 0 ok, 1 busy, 2 usage, 3 no majority, 4 lock lost\n"
         "(docs/cli.md).\n";
}

// The command being run, for messages: "redlock exec: ...".
std::string current;

int run(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    print_overview(std::cerr);
    return exit_status::usage;
  }
  if (argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
    print_overview(std::cout);
    return exit_status::ok;
  }
  for (const command& c : commands()) {
    if (c.name != argv[0]) continue;
    std::vector<flag> known = c.flags;
    known.push_back(help_flag);
    current = c.name;
    parsed_args args =
        parse_args({argv.begin() + 1, argv.end()}, known, c.name, c.stop_at_positional);
    if (args.has("help")) {
      std::cout << "usage: redlock " << c.name << ' ' << c.synopsis << "\n\n"
                << c.about << "\n\n"
                << flags_help(known);
      return exit_status::ok;
    }
    return c.run(args, process_env());
  }
  throw usage_error("unknown command '" + argv[0] + "' (see redlock --help)");
}

}  // namespace
}  // namespace redlock::cli

int main(int argc, char** argv) {
  using namespace redlock::cli;
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const usage_error& e) {
    std::cerr << "redlock" << (current.empty() ? "" : " " + current) << ": " << e.what() << '\n';
    return exit_status::usage;
  } catch (const std::exception& e) {
    std::cerr << "redlock" << (current.empty() ? "" : " " + current) << ": " << e.what() << '\n';
    return exit_status::failure;
  } catch (...) {  // no stack trace and no abort, whatever was thrown
    std::cerr << "redlock" << (current.empty() ? "" : " " + current)
              << ": failed with an unknown exception\n";
    return exit_status::failure;
  }
}
