// outcome<T>: a value, or a failure in words. The torture tools' result type: the history
// reader and writer fail with a sentence that names the file, the line and the field, which
// the driver prints as it is. (The library's redlock::result<T> carries a redlock errc and a
// tally; these failures are about files and records, not rounds.)
//
//   outcome<history> h = read_history("c3.jsonl");
//   if (!h) { std::fprintf(stderr, "%s\n", h.error().c_str()); return 2; }
//   for (const record& r : h->records) ...
//
// A failure always has a message: building one from an empty string throws std::logic_error,
// and so does value() (or * / ->) on a failure. Both are bugs in the caller.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace redlock::torture {

namespace detail {
[[noreturn]] inline void throw_outcome_misuse(const std::string& what) {
  throw std::logic_error(what);
}
}  // namespace detail

// The failure side, built with fail("..."): converts to any outcome<T>.
class failure_message {
 public:
  explicit failure_message(std::string message) : message_(std::move(message)) {
    if (message_.empty()) detail::throw_outcome_misuse("outcome: a failure needs a message");
  }
  const std::string& text() const& noexcept { return message_; }
  std::string text() && noexcept { return std::move(message_); }

 private:
  std::string message_;
};

inline failure_message fail(std::string message) {
  return failure_message(std::move(message));
}

template <class T>
class [[nodiscard]] outcome {
 public:
  outcome(T value) : value_(std::move(value)) {}
  outcome(failure_message failed) : error_(std::move(failed).text()) {}

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  // Empty on success.
  const std::string& error() const noexcept { return error_; }

  T& value() & {
    check();
    return *value_;
  }
  const T& value() const& {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!value_) detail::throw_outcome_misuse("outcome: value() on a failure: " + error_);
  }
  std::optional<T> value_;
  std::string error_;
};

template <>
class [[nodiscard]] outcome<void> {
 public:
  outcome() = default;
  outcome(failure_message failed) : error_(std::move(failed).text()) {}

  bool has_value() const noexcept { return error_.empty(); }
  explicit operator bool() const noexcept { return has_value(); }
  const std::string& error() const noexcept { return error_; }

 private:
  std::string error_;
};

}  // namespace redlock::torture
