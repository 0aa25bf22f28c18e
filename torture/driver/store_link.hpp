// store_link: one persistent RESP connection to the shared counter store, a redis-server that
// is not one of the voters. Each torture client has one; it does the protected work's reads
// and writes (counter_store.hpp). A command that takes longer than the timeout fails, the
// connection is closed, and the next command reconnects (testing::resp_link).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "outcome.hpp"
#include "redis_fleet.hpp"

namespace redlock::torture {

using store_reply = testing::reply;

class store_link {
 public:
  store_link(std::uint16_t port, std::chrono::milliseconds timeout) : link_(port, timeout) {}

  // Sends one command and reads its reply. A failure (connect, write, read, timeout, a reply
  // the parser does not take) closes the connection; its outcome on the server is unknown.
  outcome<store_reply> call(const std::vector<std::string>& args);

 private:
  testing::resp_link link_;
};

}  // namespace redlock::torture
