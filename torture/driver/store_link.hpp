// store_link: one blocking RESP connection to the shared counter store, a redis-server that is
// not one of the voters. Each torture client has one; it does the protected work's reads and
// writes (counter_store.hpp). Deadlines come from SO_RCVTIMEO/SO_SNDTIMEO: a command that takes
// longer fails, the connection is closed, and the next command reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "outcome.hpp"

namespace redlock::torture {

// One reply, reduced to what the store's commands return.
struct store_reply {
  enum class kind { status, error, integer, bulk, nil };
  kind type = kind::nil;
  std::string str;
  long long integer = 0;
};

class store_link {
 public:
  store_link(std::uint16_t port, std::chrono::milliseconds timeout) noexcept
      : port_(port), timeout_(timeout) {}
  ~store_link();
  store_link(const store_link&) = delete;
  store_link& operator=(const store_link&) = delete;

  // Sends one command and reads its reply. A failure (connect, write, read, timeout, a reply
  // the parser does not take) closes the connection; its outcome on the server is unknown.
  outcome<store_reply> call(const std::vector<std::string>& args);

 private:
  outcome<void> connect_if_needed();
  outcome<std::string> read_line();
  outcome<void> read_exact(std::string& out, std::size_t n);
  void close_fd() noexcept;

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace redlock::torture
