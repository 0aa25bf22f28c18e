// The strict flat-object parser and the string escaping of the torture histories.
#include "flat_json.hpp"

#include <limits>
#include <utility>

namespace redlock::torture {

std::optional<std::int64_t> json_integer::as_int64() const noexcept {
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!negative) {
    if (magnitude > max) return std::nullopt;
    return static_cast<std::int64_t>(magnitude);
  }
  if (magnitude > max + 1) return std::nullopt;
  if (magnitude == max + 1) return std::numeric_limits<std::int64_t>::min();
  return -static_cast<std::int64_t>(magnitude);
}

std::optional<std::uint64_t> json_integer::as_uint64() const noexcept {
  if (negative && magnitude != 0) return std::nullopt;
  return magnitude;
}

namespace {

class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  outcome<std::vector<json_member>> object() {
    std::vector<json_member> members;
    skip_space();
    if (!take('{')) return error("expected '{' at the start of the object");
    skip_space();
    if (take('}')) return finish(std::move(members));
    for (;;) {
      skip_space();
      if (peek() != '"') return error("expected a member name in double quotes");
      std::size_t name_at = pos_;
      std::string name;
      if (!string(name)) return fail(error_);
      for (const json_member& m : members) {
        if (m.name == name) {
          pos_ = name_at;
          return error("member " + json_quote(name) + " appears twice");
        }
      }
      skip_space();
      if (!take(':')) return error("expected ':' after the member name");
      skip_space();
      json_value v;
      if (!value(v)) return fail(error_);
      members.push_back({std::move(name), std::move(v)});
      skip_space();
      if (take(',')) continue;
      if (take('}')) return finish(std::move(members));
      return error("expected ',' or '}' after a member");
    }
  }

 private:
  outcome<std::vector<json_member>> finish(std::vector<json_member> members) {
    skip_space();
    if (pos_ != text_.size()) return error("unexpected text after the object's closing '}'");
    return members;
  }

  bool value(json_value& out) {
    char c = peek();
    if (c == '"') {
      std::string s;
      if (!string(s)) return false;
      out = std::move(s);
      return true;
    }
    if (c == '[') return array(out);
    if (c == '-' || (c >= '0' && c <= '9')) return integer(out);
    if (word("true")) {
      out = true;
      return true;
    }
    if (word("false")) {
      out = false;
      return true;
    }
    if (word("null")) {
      out = json_null{};
      return true;
    }
    if (c == '{') return set_error("nested objects are not part of a history record");
    if (at_end()) return set_error("the line ends where a value was expected");
    return set_error("expected a value (string, integer, true, false, null or array)");
  }

  bool array(json_value& out) {
    ++pos_;  // '['
    std::vector<std::string> items;
    skip_space();
    if (take(']')) {
      out = std::move(items);
      return true;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') return set_error("arrays in a history record hold only strings");
      std::string s;
      if (!string(s)) return false;
      items.push_back(std::move(s));
      skip_space();
      if (take(',')) continue;
      if (take(']')) break;
      return set_error("expected ',' or ']' in the array");
    }
    out = std::move(items);
    return true;
  }

  bool integer(json_value& out) {
    json_integer n;
    n.negative = take('-');
    if (at_end() || peek() < '0' || peek() > '9') return set_error("expected a digit");
    if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' &&
        text_[pos_ + 1] <= '9')
      return set_error("integers have no leading zeros");
    std::size_t start = pos_;
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      auto digit = static_cast<std::uint64_t>(peek() - '0');
      if (n.magnitude > (max - digit) / 10) {
        pos_ = start;
        return set_error("integer out of range");
      }
      n.magnitude = n.magnitude * 10 + digit;
      ++pos_;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E')
      return set_error("numbers in a history record are integers (no fraction or exponent)");
    if (n.negative && !n.as_int64()) {
      pos_ = start;
      return set_error("integer out of range");
    }
    out = n;
    return true;
  }

  bool string(std::string& out) {
    ++pos_;  // '"'
    for (;;) {
      if (at_end()) return set_error("the line ends inside a string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return set_error("control character inside a string (it must be escaped)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) return set_error("the line ends inside an escape");
      char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (!unicode_escape(out)) return false;
          break;
        default:
          --pos_;
          return set_error(std::string("unknown escape \\") + e);
      }
    }
  }

  // After "\u": four hex digits, and a second \uXXXX for a surrogate pair; appends UTF-8.
  bool unicode_escape(std::string& out) {
    std::uint32_t first = 0;
    if (!hex4(first)) return false;
    std::uint32_t code = first;
    if (first >= 0xD800 && first <= 0xDBFF) {
      std::uint32_t second = 0;
      if (!(take('\\') && take('u')))
        return set_error("a high surrogate \\u escape must be followed by a low one");
      if (!hex4(second)) return false;
      if (second < 0xDC00 || second > 0xDFFF)
        return set_error("a high surrogate \\u escape must be followed by a low one");
      code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
    } else if (first >= 0xDC00 && first <= 0xDFFF) {
      return set_error("a low surrogate \\u escape without a high one");
    }
    append_utf8(out, code);
    return true;
  }

  bool hex4(std::uint32_t& out) {
    for (int i = 0; i < 4; ++i) {
      if (at_end()) return set_error("the line ends inside a \\u escape");
      char c = text_[pos_];
      std::uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return set_error("a \\u escape needs four hex digits");
      }
      out = out * 16 + digit;
      ++pos_;
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    auto byte = [&out](std::uint32_t b) {
      out += static_cast<char>(static_cast<unsigned char>(b));
    };
    if (code < 0x80) {
      byte(code);
    } else if (code < 0x800) {
      byte(0xC0 | (code >> 6));
      byte(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      byte(0xE0 | (code >> 12));
      byte(0x80 | ((code >> 6) & 0x3F));
      byte(0x80 | (code & 0x3F));
    } else {
      byte(0xF0 | (code >> 18));
      byte(0x80 | ((code >> 12) & 0x3F));
      byte(0x80 | ((code >> 6) & 0x3F));
      byte(0x80 | (code & 0x3F));
    }
  }

  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool take(char c) {
    if (at_end() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n'))
      ++pos_;
  }
  bool set_error(const std::string& what) {
    error_ = "column " + std::to_string(pos_ + 1) + ": " + what;
    return false;
  }
  failure_message error(const std::string& what) {
    set_error(what);
    return fail(error_);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;  // set by set_error()
};

}  // namespace

outcome<std::vector<json_member>> parse_flat_object(std::string_view text) {
  return parser(text).object();
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += "\\u00";
          out += hex[u >> 4];
          out += hex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string json_quote(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace redlock::torture
