#include "endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace redlock::detail {
namespace {

constexpr auto npos = std::string_view::npos;
constexpr std::uint64_t max_port = 65535;
constexpr std::uint64_t max_db = 2147483647;
// sun_path holds the path and its terminating NUL; a longer path cannot be connected to.
constexpr std::size_t max_unix_path = sizeof(sockaddr_un::sun_path) - 1;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = to_lower(c);
  return out;
}

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

bool is_ipv4(const std::string& s) {
  in_addr addr{};
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// Digits only: no sign, no spaces, not empty, at most `max` (checked per digit, so a long
// string of digits cannot overflow).
bool parse_decimal(std::string_view s, std::uint64_t max, std::uint64_t& out) {
  if (s.empty()) return false;
  std::uint64_t value = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > max) return false;
  }
  out = value;
  return true;
}

// Parses a db index, or says what is wrong with it.
std::string parse_db(std::string_view text, int& db) {
  std::uint64_t value = 0;
  if (parse_decimal(text, max_db, value)) {
    db = static_cast<int>(value);
    return {};
  }
  bool all_digits = !text.empty();
  for (char c : text)
    all_digits = all_digits && is_digit(c);
  if (all_digits) return "db '" + std::string(text) + "' is larger than 2147483647";
  return "db '" + std::string(text) + "' is not a non-negative integer";
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%40" -> '@'. Anything but '%' and two hex digits after a '%' is malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// The inverse, for display(): keeps RFC 3986 unreserved characters, escapes the rest, so the
// displayed URL parses back to the same user.
std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xF]);
    }
  }
  return out;
}

// Splits "scheme://rest". The scheme is the RFC 3986 run (a letter, then letters, digits, '+',
// '-', '.'), so a "://" inside a password is never taken for the end of a scheme (and so never
// printed as one).
struct scheme_split {
  std::string_view scheme;
  std::string_view rest;
};

std::optional<scheme_split> split_scheme(std::string_view url) {
  std::size_t i = 0;
  while (i < url.size() && (is_alpha(url[i]) || (i > 0 && (is_digit(url[i]) || url[i] == '+' ||
                                                           url[i] == '-' || url[i] == '.')))) {
    ++i;
  }
  if (i == 0 || url.substr(i, 3) != "://") return std::nullopt;
  return scheme_split{url.substr(0, i), url.substr(i + 3)};
}

// Masks a query string. db= and user= are not secret; from the first other key=value on,
// everything is hidden: a password holding a raw '&' would otherwise show its tail as the
// next "parameter", and an unknown key may be a misspelt "password".
std::string mask_query(std::string_view query) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t amp = query.find('&', pos);
    std::string_view seg = query.substr(pos, amp == npos ? npos : amp - pos);
    std::size_t eq = seg.find('=');
    std::string_view key = seg.substr(0, eq);
    if (eq != npos && key != "db" && key != "user") {
      out.append(key).append("=***");
      return out;
    }
    out.append(seg);
    if (amp == npos) return out;
    out.push_back('&');
    pos = amp + 1;
  }
}

// The input URL as printed in error messages: the same text with the password masked. It
// must work on any input, however malformed, so it follows the parser's splitting rules
// (last '@', first ':') rather than the parsed result.
std::string mask_url(std::string_view url) {
  std::optional<scheme_split> parts = split_scheme(url);
  std::string out = parts ? std::string(parts->scheme) + "://" : std::string();
  std::string_view rest = parts ? parts->rest : url;
  if (!parts || !equals_ci(parts->scheme, "unix")) {
    std::size_t at = rest.rfind('@');
    if (at != npos) {
      std::string_view userinfo = rest.substr(0, at);
      std::size_t colon = userinfo.find(':');
      out.append(userinfo.substr(0, colon));
      if (colon != npos) out.append(":***");
      out.push_back('@');
      rest.remove_prefix(at + 1);
    }
  }
  std::size_t q = rest.find('?');
  out.append(rest.substr(0, q));
  if (q != npos) out.append("?").append(mask_query(rest.substr(q + 1)));
  return out;
}

// The parse_* helpers fill `ep` and return what is wrong, or "" when all is well.

// "user[:password]" of a redis:// URL.
std::string parse_userinfo(std::string_view info, endpoint& ep) {
  if (info.empty()) return "empty user info before '@'";
  std::size_t colon = info.find(':');
  std::string_view user = info.substr(0, colon);
  // These mean the '@' belongs to something else (a path or query), not to a user name.
  for (char c : user) {
    if (c == '/' || c == '?' || c == '#' || static_cast<unsigned char>(c) <= ' ') {
      return "invalid character in user '" + std::string(user) + "' (percent-encode it)";
    }
  }
  std::optional<std::string> decoded_user = percent_decode(user);
  if (!decoded_user) return "invalid percent-escape in user";
  ep.user = std::move(*decoded_user);
  if (colon == npos) return {};

  // Never quote the password in a message, even in part.
  std::string_view password = info.substr(colon + 1);
  if (password.empty()) return "empty password after ':'";
  std::optional<std::string> decoded_password = percent_decode(password);
  if (!decoded_password) return "invalid percent-escape in password";
  ep.password = std::move(*decoded_password);
  ep.has_password = true;
  return {};
}

// "host[:port]" where host may be "[IPv6]".
std::string parse_host_port(std::string_view text, endpoint& ep) {
  std::optional<std::string_view> port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == npos) return "unterminated IPv6 literal";
    std::string literal(text.substr(1, close - 1));
    if (!is_ipv6(literal)) {
      return "'" + literal + "' is not an IPv6 address (zone ids are not supported)";
    }
    ep.host = std::move(literal);
    std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "unexpected '" + std::string(after) + "' after IPv6 literal";
      port_text = after.substr(1);
    }
  } else {
    std::size_t colon = text.find(':');
    // Without brackets the port's ':' cannot be told from the address's.
    if (colon != npos && text.find(':', colon + 1) != npos) {
      return "IPv6 literal must be in brackets, e.g. [::1]:6379";
    }
    std::string_view host = text.substr(0, colon);
    if (host.empty()) return "missing host";
    bool digits_and_dots = true;
    for (char c : host) {
      if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_') {
        return "invalid character '" + std::string(1, c) + "' in host '" + std::string(host) + "'";
      }
      digits_and_dots = digits_and_dots && (is_digit(c) || c == '.');
    }
    // The resolver would read "10.1" or "3232235777" as an address; demand a dotted quad.
    if (digits_and_dots && !is_ipv4(std::string(host))) {
      return "'" + std::string(host) + "' is not an IPv4 address";
    }
    ep.host = std::string(host);
    if (colon != npos) port_text = text.substr(colon + 1);
  }

  if (!port_text) return {};
  if (port_text->empty()) return "missing port after ':'";
  std::uint64_t port = 0;
  if (!parse_decimal(*port_text, max_port, port) || port == 0) {
    return "port '" + std::string(*port_text) + "' is not in 1..65535";
  }
  ep.port = static_cast<std::uint16_t>(port);
  return {};
}

// The "user[:password]@" of a redis:// or redis+sentinel:// URL, taken off the front of
// `rest`, which must then have no query string.
std::string take_userinfo(std::string_view& rest, endpoint& ep) {
  // Split at the last '@' first: the password may contain '/', '?' or '@'.
  std::size_t at = rest.rfind('@');
  if (at != npos) {
    std::string problem = parse_userinfo(rest.substr(0, at), ep);
    if (!problem.empty()) return problem;
    rest.remove_prefix(at + 1);
  }
  if (rest.find('?') != npos) return "unexpected query string";
  return {};
}

// What follows "redis://".
std::string parse_redis(std::string_view rest, endpoint& ep) {
  ep.kind = endpoint::transport::tcp;
  std::string problem = take_userinfo(rest, ep);
  if (!problem.empty()) return problem;
  std::size_t slash = rest.find('/');
  problem = parse_host_port(rest.substr(0, slash), ep);
  if (!problem.empty()) return problem;
  if (slash == npos || slash + 1 == rest.size()) return {};  // no db, or a bare "/": db 0
  return parse_db(rest.substr(slash + 1), ep.db);
}

// What follows "redis+sentinel://": "[userinfo@]host[:port],host[:port].../NAME[/db]".
std::string parse_sentinel_group(std::string_view rest, endpoint& ep) {
  std::string userinfo_problem = take_userinfo(rest, ep);
  if (!userinfo_problem.empty()) return userinfo_problem;
  std::size_t slash = rest.find('/');
  if (slash == npos) return "missing master name after the sentinels (.../mymaster)";
  std::string_view hosts = rest.substr(0, slash);
  while (true) {
    std::size_t comma = hosts.find(',');
    endpoint sentinel;
    sentinel.port = 26379;
    std::string problem = parse_host_port(hosts.substr(0, comma), sentinel);
    if (!problem.empty()) {
      return "sentinel #" + std::to_string(ep.sentinels.size() + 1) + ": " + problem;
    }
    ep.sentinels.push_back({sentinel.host, sentinel.port});
    if (comma == npos) break;
    hosts.remove_prefix(comma + 1);
  }
  std::string_view name = rest.substr(slash + 1);
  std::size_t db_slash = name.find('/');
  std::string_view db = db_slash == npos ? std::string_view() : name.substr(db_slash + 1);
  name = name.substr(0, db_slash);
  if (name.empty()) return "missing master name after the sentinels (.../mymaster)";
  for (char c : name) {
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_') {
      return "invalid character '" + std::string(1, c) + "' in master name";
    }
  }
  ep.master_name = std::string(name);
  if (db.empty()) return {};
  return parse_db(db, ep.db);
}

// "db=N&user=U&password=P", in any order, each at most once.
std::string parse_query(std::string_view query, endpoint& ep) {
  bool seen_db = false;
  bool seen_user = false;
  bool seen_password = false;
  std::size_t pos = 0;
  while (true) {
    std::size_t amp = query.find('&', pos);
    std::string_view seg = query.substr(pos, amp == npos ? npos : amp - pos);
    std::size_t eq = seg.find('=');
    std::string_view key = seg.substr(0, eq);
    std::string_view value = eq == npos ? std::string_view() : seg.substr(eq + 1);

    bool* seen = key == "db"         ? &seen_db
                 : key == "user"     ? &seen_user
                 : key == "password" ? &seen_password
                                     : nullptr;
    if (seen == nullptr) {
      // After a password this is most likely its tail, split at a raw '&': do not quote it.
      if (seen_password) return "unexpected text after the password (write '&' in it as %26)";
      if (seg.empty()) return "empty query parameter";
      return "unknown query parameter '" + std::string(key) + "'";
    }
    if (*seen) return "duplicate query parameter '" + std::string(key) + "'";
    *seen = true;

    if (key == "db") {
      std::string problem = parse_db(value, ep.db);
      if (!problem.empty()) return problem;
    } else if (value.empty()) {
      return "query parameter '" + std::string(key) + "' has no value";
    } else {
      bool is_user = key == "user";
      std::optional<std::string> decoded = percent_decode(value);
      if (!decoded) return "invalid percent-escape in " + std::string(key);
      (is_user ? ep.user : ep.password) = std::move(*decoded);
      ep.has_password = ep.has_password || !is_user;
    }
    if (amp == npos) return {};
    pos = amp + 1;
  }
}

// What follows "unix://": an absolute path, then an optional query.
std::string parse_unix(std::string_view rest, endpoint& ep) {
  ep.kind = endpoint::transport::unix_socket;
  std::size_t q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  if (path.empty()) return "missing unix socket path";
  if (path.front() != '/') return "unix socket path must be absolute";
  if (path.size() > max_unix_path) {
    return "unix socket path is longer than " + std::to_string(max_unix_path) + " bytes";
  }
  ep.path = std::string(path);
  if (q == npos) return {};
  return parse_query(rest.substr(q + 1), ep);
}

std::string parse_url(std::string_view url, endpoint& ep) {
  if (url.empty()) return "empty URL";
  std::optional<scheme_split> parts = split_scheme(url);
  if (!parts) return "missing scheme (expected redis://, rediss://, unix:// or redis+sentinel://)";
  if (equals_ci(parts->scheme, "redis")) return parse_redis(parts->rest, ep);
  if (equals_ci(parts->scheme, "rediss")) {
    ep.tls = true;
    return parse_redis(parts->rest, ep);
  }
  if (equals_ci(parts->scheme, "unix")) return parse_unix(parts->rest, ep);
  if (equals_ci(parts->scheme, "redis+sentinel")) return parse_sentinel_group(parts->rest, ep);
  if (equals_ci(parts->scheme, "rediss+sentinel")) {
    ep.tls = true;
    return parse_sentinel_group(parts->rest, ep);
  }
  return "unsupported scheme '" + std::string(parts->scheme) +
         "' (expected redis://, rediss://, unix:// or redis+sentinel://)";
}

}  // namespace

std::string endpoint::display() const {
  // Mask even when only `password` is set: a hand-built endpoint must not leak either.
  bool masked = has_password || !password.empty();
  if (kind == transport::unix_socket) {
    std::string out = "unix://" + path;
    char sep = '?';
    auto add = [&](const char* key, const std::string& value) {
      out.append(1, sep).append(key).append("=").append(value);
      sep = '&';
    };
    if (db != 0) add("db", std::to_string(db));
    if (!user.empty()) add("user", percent_encode(user));
    if (masked) add("password", "***");
    return out;
  }
  std::string out =
      std::string(tls ? "rediss" : "redis") + (is_sentinel_group() ? "+sentinel://" : "://");
  if (!user.empty() || masked) {
    out.append(percent_encode(user)).append(masked ? ":***@" : "@");
  }
  if (is_sentinel_group()) {
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      const address& s = sentinels[i];
      bool bracket = s.host.find(':') != std::string::npos;
      out.append(i == 0 ? "" : ",").append(bracket ? "[" + s.host + "]" : s.host);
      out.append(":").append(std::to_string(s.port));
    }
    out.append("/").append(master_name);
    if (db != 0) out.append("/").append(std::to_string(db));
    return out;
  }
  bool bracket = host.find(':') != std::string::npos;
  out.append(bracket ? "[" + host + "]" : host).append(":").append(std::to_string(port));
  if (db != 0) out.append("/").append(std::to_string(db));
  return out;
}

namespace {

// "::1" and "0:0::1" are the same server: compare IPv6 literals in inet_ntop's form.
std::string canonical_host(const std::string& host) {
  std::string canonical = lowercase(host);
  in6_addr addr6{};
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET6, host.c_str(), &addr6) == 1 &&
      inet_ntop(AF_INET6, &addr6, text, sizeof text) != nullptr) {
    canonical = text;
  }
  return canonical;
}

}  // namespace

std::string endpoint::identity() const {
  if (kind == transport::unix_socket) return "unix|" + path;
  if (is_sentinel_group()) {
    std::vector<std::string> each;
    for (const address& s : sentinels)
      each.push_back(canonical_host(s.host) + ":" + std::to_string(s.port));
    std::sort(each.begin(), each.end());
    std::string out = "sentinel|" + master_name + "|";
    for (std::size_t i = 0; i < each.size(); ++i)
      out.append(i == 0 ? "" : ",").append(each[i]);
    return out;
  }
  return "tcp|" + canonical_host(host) + "|" + std::to_string(port);
}

bool endpoint::host_is_literal() const {
  return is_ipv4(host) || is_ipv6(host);
}

result<endpoint> parse_endpoint(std::string_view url) {
  endpoint ep;
  std::string problem = parse_url(url, ep);
  if (!problem.empty()) {
    return {errc::invalid_endpoint, "invalid endpoint '" + mask_url(url) + "': " + problem};
  }
  return ep;
}

}  // namespace redlock::detail
