// A resource name for messages: in quotes, with anything unprintable escaped (\xNN), so a
// name holding newlines or NUL bytes cannot garble a log line.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace redlock::detail {

inline std::string quoted(std::string_view resource) {
  std::string out = "'";
  for (char ch : resource) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

// Several resources for messages: 'a', 'b' and 'c'.
inline std::string quoted(const std::vector<std::string>& resources) {
  std::string out;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (i > 0) out += i + 1 == resources.size() ? " and " : ", ";
    out += quoted(resources[i]);
  }
  return out;
}

}  // namespace redlock::detail
