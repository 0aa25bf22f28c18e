// What every example starts with: client options for a list of servers.
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>

#include "redlock/redlock.hpp"

// The comma-separated URLs of the first argument, else of REDLOCK_SERVERS.
inline std::string servers_from(int argc, char** argv) {
  const char* env = std::getenv("REDLOCK_SERVERS");
  return argc > 1 ? argv[1] : env != nullptr ? env : "";
}

// Client options for the comma-separated URLs in `list`.
inline redlock::client_options options_for(const std::string& list) {
  redlock::client_options options;
  std::stringstream urls(list);
  for (std::string url; std::getline(urls, url, ',');) {
    if (!url.empty()) options.endpoints.push_back(url);
  }
  // Servers started a moment ago look as if they had just restarted, and a restarted server
  // may have forgotten the locks it granted: with the quarantine on (the default), each sits
  // out quarantine.max_ttl (60 s) before it votes. `redlock fleet up --env` sets
  // REDLOCK_QUARANTINE=off for such servers, which never granted a lock; never for real ones.
  const char* quarantine = std::getenv("REDLOCK_QUARANTINE");
  if (quarantine != nullptr && std::string(quarantine) == "off") options.quarantine.enabled = false;
  return options;
}
