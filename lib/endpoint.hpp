// Endpoint URLs: what client_options::endpoints holds, parsed into the parts a connection
// needs, plus a display form (password masked) and an identity (for duplicate detection).
//
//   result<endpoint> e = parse_endpoint("redis://app:s3cret@10.0.0.1:6379/2");
//   e->display();   // "redis://app:***@10.0.0.1:6379/2"
//   e->identity();  // "tcp|10.0.0.1|6379"
//
// Grammar (scheme names are case-insensitive):
//   redis://[user[:password]@]host[:port][/db]
//   rediss://...   the same over TLS
//   unix:///absolute/path.sock[?db=N][&user=U][&password=P]   (parameters in any order, once each)
//   redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/MASTER_NAME[/db]
//   rediss+sentinel://...   the same over TLS (to the sentinels and to the master)
// - A Sentinel group is one voter: the sentinels (port 26379 by default) name its master at
//   every connect. user and password are the master's (the sentinels' own are
//   client_options::sentinel_user and sentinel_password).
//   MASTER_NAME: letters, digits, '-', '.', '_'.
// - host: a name (letters, digits, '-', '.', '_'), an IPv4 literal, or an IPv6 literal in
//   brackets. IPv6 zone ids ("[fe80::1%25lo]") are rejected: link-local Redis masters are not
//   a use case worth the extra parsing.
// - user[:password] runs up to the LAST '@', and the password from the first ':' after the
//   user, so a raw '@', ':' or '/' in a password still parses (and is still masked).
//   Percent-escapes (%40 for '@', %3A for ':', %26 for '&' in a unix query) are decoded in
//   user and password; a malformed escape is an error. An empty password after ':' is an
//   error; a user without a password is kept (user set, has_password false).
// - port 1..65535, default 6379; db 0..2147483647, default 0 ("/" alone means 0).
// Every error is errc::invalid_endpoint with "invalid endpoint 'URL': <what is wrong>", where
// URL is the input with the password (and any unknown query value) replaced by "***".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "redlock/result.hpp"

namespace redlock::detail {

struct endpoint {
  enum class transport { tcp, unix_socket };
  transport kind = transport::tcp;
  std::string host;  // tcp: host name, IPv4 literal, or IPv6 literal WITHOUT brackets
  std::uint16_t port = 6379;
  std::string path;      // unix: absolute socket path
  int db = 0;            // SELECT index, >= 0
  std::string user;      // ACL user; empty = none (AUTH <password> only)
  std::string password;  // empty + !has_password = no AUTH
  bool has_password = false;
  bool tls = false;  // rediss://
  // redis+sentinel://: the group's sentinels and master name; host and port are then those of
  // the master the sentinels named last (empty until then).
  struct address {
    std::string host;
    std::uint16_t port = 0;
  };
  std::vector<address> sentinels;
  std::string master_name;
  bool is_sentinel_group() const { return !sentinels.empty(); }

  // The URL for messages and reports, with the password replaced by "***", e.g.
  // "redis://app:***@10.0.0.1:6379/2", "redis://[::1]:7000", "unix:///tmp/r.sock?db=1".
  // The port is always shown, the db only when it is not 0; user is percent-encoded.
  std::string display() const;
  // A key naming the server, for duplicate detection: same host (case-insensitive; IPv6
  // literals in canonical form) and port, or same socket path, regardless of
  // db/user/password. e.g. "tcp|localhost|6379", "tcp|::1|7000", "unix|/tmp/r.sock"; for a
  // Sentinel group the master name and the sentinels, sorted: "sentinel|mymaster|h1:26379,...".
  std::string identity() const;
  // True when host is an IPv4 or IPv6 literal, so no resolution is needed.
  bool host_is_literal() const;
};

// Parses one endpoint URL (grammar above). Errors: errc::invalid_endpoint.
result<endpoint> parse_endpoint(std::string_view url);

}  // namespace redlock::detail
