// The JSON of the torture histories: one flat object per line. A strict parser for exactly
// that shape and the string escaping the writer uses; no general JSON library.
//
// Accepted: one object, whose member values are strings, integers, true/false, null, or arrays
// of strings; whitespace between tokens. Refused, with the column: nested objects, arrays of
// anything but strings, numbers with a fraction or exponent, leading zeros, integers outside
// [-2^63, 2^64-1], duplicate member names, control characters inside strings, unknown or bad
// escapes, lone surrogates, anything after the closing brace.
//
// Strings are bytes: \" \\ \/ \b \f \n \r \t and \uXXXX (surrogate pairs too, written out as
// UTF-8) are decoded; other bytes, UTF-8 or not, are taken as they are, so any std::string
// written with append_json_string() reads back unchanged.
//
//   auto members = parse_flat_object(R"({"t":1,"client":"c1","resources":["r1"]})");
//   if (!members) return fail("line 3: " + members.error());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "outcome.hpp"

namespace redlock::torture {

// A JSON integer as sign and magnitude, so that both int64 and uint64 values fit.
struct json_integer {
  bool negative = false;
  std::uint64_t magnitude = 0;

  // The value, when it fits.
  std::optional<std::int64_t> as_int64() const noexcept;
  std::optional<std::uint64_t> as_uint64() const noexcept;
};

struct json_null {};

using json_value =
    std::variant<json_null, bool, json_integer, std::string, std::vector<std::string>>;

struct json_member {
  std::string name;
  json_value value;
};

// The members of the one object in `text`, in the order written.
outcome<std::vector<json_member>> parse_flat_object(std::string_view text);

// Appends `text` as a JSON string, quotes included: " and \ escaped, control characters
// (and DEL) as \n \t \r \b \f or \u00XX, every other byte as it is. One line, always.
void append_json_string(std::string& out, std::string_view text);
std::string json_quote(std::string_view text);

}  // namespace redlock::torture
