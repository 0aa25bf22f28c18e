// The history format: records to JSON lines and back, the writer and the reader.
#include "history.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <utility>

#include "flat_json.hpp"

namespace redlock::torture {

std::int64_t to_nanos(time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

time_point from_nanos(std::int64_t ns) noexcept {
  return time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(ns)));
}

const char* to_string(op o) noexcept {
  switch (o) {
    case op::acquire:
      return "acquire";
    case op::extend:
      return "extend";
    case op::release:
      return "release";
    case op::check:
      return "check";
  }
  return "unknown";
}

invocation acquire_call(std::uint64_t call, std::vector<std::string> resources,
                        std::chrono::milliseconds ttl, std::chrono::milliseconds wait,
                        bool fenced) {
  invocation i;
  i.call = call;
  i.op = op::acquire;
  i.resources = std::move(resources);
  i.ttl = ttl;
  i.wait = wait;
  i.fenced = fenced;
  return i;
}

invocation extend_call(std::uint64_t call, std::string token, std::chrono::milliseconds ttl) {
  invocation i;
  i.call = call;
  i.op = op::extend;
  i.token = std::move(token);
  i.ttl = ttl;
  return i;
}

invocation release_call(std::uint64_t call, std::string token) {
  invocation i;
  i.call = call;
  i.op = op::release;
  i.token = std::move(token);
  return i;
}

invocation check_call(std::uint64_t call, std::string token) {
  invocation i;
  i.call = call;
  i.op = op::check;
  i.token = std::move(token);
  return i;
}

const char* phase_of(const event& e) noexcept {
  static constexpr const char* names[] = {"invoke", "ok", "fail", "lost", "effect"};
  static_assert(std::variant_size_v<event> == 5);
  return names[e.index()];
}

namespace {

// The rules of history.hpp's header comment; empty when r keeps them.
std::string broken_rule(const record& r) {
  if (r.client.empty()) return "the client name is empty";
  if (const auto* call = std::get_if<invocation>(&r.what)) {
    const char* name = to_string(call->op);
    if (call->op == op::acquire) {
      if (call->resources.empty()) return "an acquire names no resource";
      for (const std::string& resource : call->resources)
        if (resource.empty()) return "an acquire names an empty resource";
      if (call->ttl.count() <= 0) return "an acquire's ttl is not positive";
      if (call->wait.count() < 0) return "an acquire's wait is negative";
      if (!call->token.empty()) return "an acquire invocation has a token";
      return "";
    }
    if (call->token.empty()) return std::string("a ") + name + " names no token";
    if (!call->resources.empty()) return std::string("a ") + name + " names resources";
    if (call->wait.count() != 0) return std::string("a ") + name + " has a wait";
    if (call->fenced) return std::string("a ") + name + " is marked fenced";
    if (call->op == op::extend && call->ttl.count() <= 0) return "an extend's ttl is not positive";
    if (call->op != op::extend && call->ttl.count() != 0)
      return std::string("a ") + name + " has a ttl";
    return "";
  }
  if (const auto* failed = std::get_if<failure>(&r.what)) {
    if (failed->error.empty()) return "a failure names no error";
  } else if (const auto* lost = std::get_if<lost_signal>(&r.what)) {
    if (lost->token.empty()) return "a lost signal names no token";
    if (lost->cause.empty()) return "a lost signal names no cause";
  } else if (const auto* done = std::get_if<effect>(&r.what)) {
    if (done->token.empty()) return "an effect names no token";
    if (done->resource.empty()) return "an effect names no resource";
  }
  return "";
}

// Members of one line, in order.
class line_builder {
 public:
  void add(const char* name, std::string_view text) {
    start(name);
    append_json_string(line_, text);
  }
  void add(const char* name, const char* text) { add(name, std::string_view(text)); }
  void add(const char* name, std::int64_t n) {
    start(name);
    line_ += std::to_string(n);
  }
  void add(const char* name, std::uint64_t n) {
    start(name);
    line_ += std::to_string(n);
  }
  void add(const char* name, bool b) {
    start(name);
    line_ += b ? "true" : "false";
  }
  void add(const char* name, const std::vector<std::string>& items) {
    start(name);
    line_ += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) line_ += ',';
      append_json_string(line_, items[i]);
    }
    line_ += ']';
  }
  void add(const char* name, time_point t) { add(name, to_nanos(t)); }
  std::string done() && { return std::move(line_) + "}"; }

 private:
  void start(const char* name) {
    line_ += line_.size() > 1 ? "," : "";
    append_json_string(line_, name);
    line_ += ':';
  }
  std::string line_ = "{";
};

// The members of a parsed line, taken one by one; whatever is not taken is an error.
class members {
 public:
  explicit members(std::vector<json_member> all) : all_(std::move(all)), taken_(all_.size()) {}

  // The member, or nullptr when absent (or null, for an optional one).
  const json_value* find(std::string_view name) {
    for (std::size_t i = 0; i < all_.size(); ++i) {
      if (all_[i].name != name) continue;
      taken_[i] = true;
      if (std::holds_alternative<json_null>(all_[i].value)) return nullptr;
      return &all_[i].value;
    }
    return nullptr;
  }

  bool string(std::string_view name, std::string& out, bool required) {
    const json_value* v = find(name);
    if (!v) return !required || missing(name);
    const auto* s = std::get_if<std::string>(v);
    if (!s) return wrong(name, "a string");
    out = *s;
    return true;
  }
  bool strings(std::string_view name, std::vector<std::string>& out) {
    const json_value* v = find(name);
    if (!v) return missing(name);
    const auto* s = std::get_if<std::vector<std::string>>(v);
    if (!s) return wrong(name, "an array of strings");
    out = *s;
    return true;
  }
  bool int64(std::string_view name, std::optional<std::int64_t>& out, bool required) {
    const json_value* v = find(name);
    if (!v) return !required || missing(name);
    const auto* n = std::get_if<json_integer>(v);
    if (!n || !n->as_int64()) return wrong(name, "an integer in the int64 range");
    out = n->as_int64();
    return true;
  }
  bool uint64(std::string_view name, std::optional<std::uint64_t>& out, bool required) {
    const json_value* v = find(name);
    if (!v) return !required || missing(name);
    const auto* n = std::get_if<json_integer>(v);
    if (!n || !n->as_uint64()) return wrong(name, "a non-negative integer");
    out = n->as_uint64();
    return true;
  }
  bool boolean(std::string_view name, bool& out, bool required) {
    const json_value* v = find(name);
    if (!v) return !required || missing(name);
    const auto* b = std::get_if<bool>(v);
    if (!b) return wrong(name, "true or false");
    out = *b;
    return true;
  }
  bool time(std::string_view name, std::optional<time_point>& out, bool required) {
    std::optional<std::int64_t> ns;
    if (!int64(name, ns, required)) return false;
    if (ns) out = from_nanos(*ns);
    return true;
  }
  bool millis(std::string_view name, std::chrono::milliseconds& out, bool required) {
    std::optional<std::int64_t> ms;
    if (!int64(name, ms, required)) return false;
    if (ms) out = std::chrono::milliseconds(*ms);
    return true;
  }

  // Fails on the first member nobody took.
  bool all_taken(std::string_view what) {
    for (std::size_t i = 0; i < all_.size(); ++i) {
      if (!taken_[i]) {
        error_ = "member " + json_quote(all_[i].name) + " is not part of " + std::string(what);
        return false;
      }
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool missing(std::string_view name) {
    error_ = "member \"" + std::string(name) + "\" is missing";
    return false;
  }
  bool wrong(std::string_view name, const char* expected) {
    error_ = "member \"" + std::string(name) + "\" must be " + expected;
    return false;
  }
  std::vector<json_member> all_;
  std::vector<bool> taken_;
  std::string error_;
};

bool read_invocation(members& m, invocation& call, std::string& what) {
  std::optional<std::uint64_t> id;
  std::string name;
  if (!m.uint64("call", id, true) || !m.string("op", name, true)) return false;
  call.call = *id;
  if (name == "acquire") {
    call.op = op::acquire;
    if (!m.strings("resources", call.resources) || !m.millis("ttl_ms", call.ttl, true) ||
        !m.millis("wait_ms", call.wait, false) || !m.boolean("fenced", call.fenced, false))
      return false;
  } else if (name == "extend") {
    call.op = op::extend;
    if (!m.string("token", call.token, true) || !m.millis("ttl_ms", call.ttl, true)) return false;
  } else if (name == "release" || name == "check") {
    call.op = name == "release" ? op::release : op::check;
    if (!m.string("token", call.token, true)) return false;
  } else {
    what = "an invocation: \"op\" must be acquire, extend, release or check";
    return false;
  }
  what = std::string("an invocation of ") + to_string(call.op);
  return true;
}

// The record in `fields`, or false with the reason in `why`.
bool read_record(std::vector<json_member> fields, record& r, std::string& why) {
  members m(std::move(fields));
  std::optional<std::int64_t> t;
  std::string phase;
  if (!m.int64("t", t, true) || !m.string("client", r.client, true) ||
      !m.string("phase", phase, true)) {
    why = m.error();
    return false;
  }
  r.t = from_nanos(*t);
  std::string what = std::string("a \"") + phase + "\" record";
  bool ok = true;
  if (phase == "invoke") {
    invocation call;
    ok = read_invocation(m, call, what);
    if (!ok && m.error().empty()) {
      why = what;
      return false;
    }
    r.what = std::move(call);
  } else if (phase == "ok") {
    success done;
    std::optional<std::uint64_t> id;
    ok = m.uint64("call", id, true) && m.string("token", done.token, false) &&
         m.time("valid_until", done.valid_until, false) && m.uint64("fence", done.fence, false) &&
         m.string("tally", done.tally, false);
    if (ok) done.call = *id;
    r.what = std::move(done);
  } else if (phase == "fail") {
    failure failed;
    std::optional<std::uint64_t> id;
    ok = m.uint64("call", id, true) && m.string("error", failed.error, true) &&
         m.string("message", failed.message, false) &&
         m.time("valid_until", failed.valid_until, false);
    if (ok) failed.call = *id;
    r.what = std::move(failed);
  } else if (phase == "lost") {
    lost_signal lost;
    ok = m.string("token", lost.token, true) && m.string("cause", lost.cause, true);
    r.what = std::move(lost);
  } else if (phase == "effect") {
    effect done;
    std::optional<std::int64_t> read;
    std::optional<std::int64_t> wrote;
    ok = m.string("token", done.token, true) && m.string("resource", done.resource, true) &&
         m.int64("read", read, true) && m.int64("wrote", wrote, true) &&
         m.uint64("fence", done.fence, false) && m.boolean("accepted", done.accepted, true) &&
         m.time("sent", done.sent, false);
    if (ok) {
      done.read = *read;
      done.wrote = *wrote;
    }
    r.what = std::move(done);
  } else {
    why = "\"phase\" must be invoke, ok, fail, lost or effect, not " + json_quote(phase);
    return false;
  }
  if (!ok || !m.all_taken(what)) {
    why = m.error();
    return false;
  }
  why = broken_rule(r);
  return why.empty();
}

std::string system_error_text(int code) {
  return std::strerror(code);
}

}  // namespace

outcome<std::string> to_json_line(const record& r) {
  if (std::string why = broken_rule(r); !why.empty()) return fail("not a valid record: " + why);
  line_builder line;
  line.add("t", r.t);
  line.add("client", r.client);
  std::visit(
      [&line](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, invocation>) {
          line.add("call", e.call);
          line.add("phase", "invoke");
          line.add("op", to_string(e.op));
          if (e.op == op::acquire) {
            line.add("resources", e.resources);
            line.add("ttl_ms", static_cast<std::int64_t>(e.ttl.count()));
            line.add("wait_ms", static_cast<std::int64_t>(e.wait.count()));
            line.add("fenced", e.fenced);
          } else {
            line.add("token", e.token);
            if (e.op == op::extend) line.add("ttl_ms", static_cast<std::int64_t>(e.ttl.count()));
          }
        } else if constexpr (std::is_same_v<T, success>) {
          line.add("call", e.call);
          line.add("phase", "ok");
          if (!e.token.empty()) line.add("token", e.token);
          if (e.valid_until) line.add("valid_until", *e.valid_until);
          if (e.fence) line.add("fence", *e.fence);
          if (!e.tally.empty()) line.add("tally", e.tally);
        } else if constexpr (std::is_same_v<T, failure>) {
          line.add("call", e.call);
          line.add("phase", "fail");
          line.add("error", e.error);
          line.add("message", e.message);
          if (e.valid_until) line.add("valid_until", *e.valid_until);
        } else if constexpr (std::is_same_v<T, lost_signal>) {
          line.add("phase", "lost");
          line.add("token", e.token);
          line.add("cause", e.cause);
        } else {
          static_assert(std::is_same_v<T, effect>);
          line.add("phase", "effect");
          line.add("token", e.token);
          line.add("resource", e.resource);
          line.add("read", e.read);
          line.add("wrote", e.wrote);
          if (e.fence) line.add("fence", *e.fence);
          line.add("accepted", e.accepted);
          if (e.sent) line.add("sent", *e.sent);
        }
      },
      r.what);
  return std::move(line).done();
}

outcome<record> parse_record(std::string_view line) {
  auto fields = parse_flat_object(line);
  if (!fields) return fail(fields.error());
  record r;
  std::string why;
  if (!read_record(std::move(fields).value(), r, why)) return fail(why);
  return r;
}

outcome<history_writer> history_writer::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail(path + ": cannot open for appending: " + system_error_text(errno));
  return history_writer(fd, true);
}

history_writer::history_writer(history_writer&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), owned_(std::exchange(other.owned_, false)) {}

history_writer& history_writer::operator=(history_writer&& other) noexcept {
  if (this != &other) {
    if (owned_) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

history_writer::~history_writer() {
  if (owned_) ::close(fd_);
}

outcome<void> history_writer::write(const record& r) {
  auto line = to_json_line(r);
  if (!line) return fail(line.error());
  line->push_back('\n');
  const char* p = line->data();
  std::size_t left = line->size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write the history: " + system_error_text(errno));
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

outcome<history> parse_history(std::string_view text, std::string_view name) {
  history h;
  std::size_t number = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    bool last = end == std::string_view::npos || end + 1 == text.size();
    std::string_view line = text.substr(at, end == std::string_view::npos ? end : end - at);
    at = end == std::string_view::npos ? text.size() : end + 1;
    ++number;
    auto r = parse_record(line);
    if (r) {
      h.records.push_back(std::move(r).value());
      continue;
    }
    std::string where = std::string(name) + ":" + std::to_string(number) + ": ";
    if (!last) return fail(where + r.error());
    h.skipped = 1;
    h.skipped_reason = where + "last line skipped (" +
                       (end == std::string_view::npos ? "cut short" : "malformed") +
                       "): " + r.error();
  }
  return h;
}

outcome<history> read_history(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(path + ": cannot open: " + system_error_text(errno));
  std::string text;
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    text.append(buf, n);
  bool failed = std::ferror(f) != 0;
  int code = errno;
  std::fclose(f);
  if (failed) return fail(path + ": cannot read: " + system_error_text(code));
  return parse_history(text, path);
}

}  // namespace redlock::torture
