#include "tool.hpp"

#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "redlock/error.hpp"

namespace redlock::cli {

int status_for(std::error_code e) {
  if (e == errc::held_elsewhere) return exit_status::busy;
  if (e == errc::invalid_option || e == errc::invalid_endpoint) return exit_status::usage;
  if (e == errc::lock_lost) return exit_status::lost;
  return exit_status::failure;
}

client make_client(const parsed_args& args, const env_lookup& env) {
  result<client> made = client::create(client_options_from(args, env));
  if (!made) throw usage_error(made.message());
  return std::move(*made);
}

void report_failure(std::ostream& err, std::string_view command, const result_base& failed) {
  err << "redlock " << command << ": " << failed.message() << '\n';
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace redlock::cli
