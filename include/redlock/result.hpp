// result<T>: a value or an error, plus the per-node tally of the round that produced it.
//
//   redlock::result<redlock::lease> r = locks->acquire("jobs:nightly");
//   if (!r) {
//     // "no majority for 'jobs:nightly': 2 of 5 nodes granted, 0 refused, 3 failed
//     // (redis://10.0.0.3:6379: node is down; ...)"
//     log(r.message());
//     for (const auto& n : r.tally().nodes()) log(n.endpoint, n.error.message(), n.detail);
//   }
//
// Calling value() (or * / ->) on an error throws std::system_error: that is a bug in the
// caller, not an expected outcome. A failed result always holds a redlock errc: it is built
// from one (an empty error code cannot be given), or from another result's failure.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "redlock/error.hpp"

namespace redlock {

/// What one node said in one round.
///   acquire: granted = it set our key; refused = another owner's key is there.
///   extend:  granted = it extended our key; refused = our key is gone or replaced.
///   release: granted = it deleted our key; refused = our key was not there.
///   failed: see node_report::error; unanswered: the round was decided before it answered.
enum class vote { granted, refused, failed, unanswered };

/// One node's answer in a round: one entry of a tally.
struct node_report {
  std::string endpoint;                   ///< the node's URL, password masked
  redlock::vote vote = vote::unanswered;  ///< what it said (see vote)
  std::error_code error;  ///< set when vote == failed: node_down, node_timeout, server_error...
  std::string detail;     ///< the server's or the system's words, when there are any
  std::chrono::microseconds latency{0};  ///< request to answer (or failure), when answered
};

/// Who said what in the last round of an operation (acquire, extend or release).
class tally {
 public:
  tally() = default;
  tally(std::vector<node_report> nodes, int attempts)
      : nodes_(std::move(nodes)), attempts_(attempts) {}

  std::size_t granted() const noexcept { return count(vote::granted); }
  std::size_t refused() const noexcept { return count(vote::refused); }
  std::size_t failed() const noexcept { return count(vote::failed); }
  std::size_t unanswered() const noexcept { return count(vote::unanswered); }
  /// One entry per node, in the order the endpoints were given.
  const std::vector<node_report>& nodes() const noexcept { return nodes_; }
  /// Rounds this operation ran (acquire retries while its wait budget lasts).
  int attempts() const noexcept { return attempts_; }

 private:
  std::size_t count(vote v) const noexcept {
    std::size_t n = 0;
    for (const auto& node : nodes_)
      n += node.vote == v ? 1 : 0;
    return n;
  }
  std::vector<node_report> nodes_;
  int attempts_ = 0;
};

template <class T>
class [[nodiscard]] result;

/// Shared by result<T> and result<void>: the error side and the tally.
class [[nodiscard]] result_base {
 public:
  /// Empty on success; otherwise an errc of the redlock category (never an empty code).
  std::error_code error() const noexcept { return error_; }
  /// A sentence naming what went wrong (which option, which endpoint, which nodes); empty on
  /// success.
  const std::string& message() const noexcept { return message_; }
  const redlock::tally& tally() const noexcept { return tally_; }
  /// Moves the tally out (the result keeps an empty one).
  redlock::tally take_tally() noexcept { return std::move(tally_); }

  /// The outcome without the value: the same error, message and tally.
  ///   result<void> done = held.status();   // from a result<lease>
  result<void> status() const&;
  result<void> status() &&;

 protected:
  result_base() = default;
  result_base(errc error, std::string message, redlock::tally t)
      : error_(error), message_(std::move(message)), tally_(std::move(t)) {}
  explicit result_base(redlock::tally t) : tally_(std::move(t)) {}
  void check() const {
    if (error_) throw_bad_access(error_, message_);
  }
  // Out of line, exported from a shared libredlock: the inline code above and in result<T>
  // calls them from the user's own binary.
  [[noreturn]] REDLOCK_API static void throw_bad_access(std::error_code error,
                                                        const std::string& message);
  [[noreturn]] REDLOCK_API static void throw_not_a_failure();

  std::error_code error_;
  std::string message_;
  redlock::tally tally_;
};

/// The outcome of an operation that has no value: success, or an error with its message; the
/// tally either way.
template <>
class [[nodiscard]] result<void> : public result_base {
 public:
  result(redlock::tally t = {}) : result_base(std::move(t)) {}
  result(errc error, std::string message, redlock::tally t = {})
      : result_base(error, std::move(message), std::move(t)) {}

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const { check(); }
};

inline result<void> result_base::status() const& {
  if (!error_) return result<void>(tally_);
  return result<void>(static_cast<errc>(error_.value()), message_, tally_);
}

inline result<void> result_base::status() && {
  if (!error_) return result<void>(std::move(tally_));
  return result<void>(static_cast<errc>(error_.value()), std::move(message_), std::move(tally_));
}

template <class T>
class [[nodiscard]] result : public result_base {
 public:
  result(T value, redlock::tally t = {}) : result_base(std::move(t)), value_(std::move(value)) {}
  result(errc error, std::string message, redlock::tally t = {})
      : result_base(error, std::move(message), std::move(t)) {}
  /// The failure of another operation, passed on: `failed` must hold an error (a success has
  /// no value to give; that is a caller bug and throws std::logic_error).
  ///   if (!checked) return checked.status();
  result(result<void> failed) {
    if (failed) throw_not_a_failure();
    static_cast<result_base&>(*this) = std::move(failed);
  }

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

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
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
};

}  // namespace redlock
