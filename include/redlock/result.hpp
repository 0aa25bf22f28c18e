// result<T>: a value or an error, plus the per-node tally of the round that produced it.
//
//   redlock::result<redlock::lease> r = locks.acquire("jobs:nightly");
//   if (!r) {
//     log(r.message());                    // "no_quorum: 3 of 5 nodes failed ..."
//     for (const auto& n : r.tally().nodes()) log(n.endpoint, n.error.message(), n.detail);
//   }
//
// Calling value() (or * / ->) on an error throws std::system_error: that is a bug in the
// caller, not an expected outcome.
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

// What one node said in one round.
//   acquire: granted = it set our key; refused = another owner's key is there.
//   extend:  granted = it extended our key; refused = our key is gone or replaced.
//   release: granted = it deleted our key; refused = our key was not there.
//   failed: see node_report::error; unanswered: the round was decided before it answered.
enum class vote { granted, refused, failed, unanswered };

struct node_report {
  std::string endpoint;  // the node's URL, password masked
  redlock::vote vote = vote::unanswered;
  std::error_code error;  // set when vote == failed: node_down, node_timeout, server_error...
  std::string detail;     // the server's or the system's words, when there are any
  std::chrono::microseconds latency{0};  // request to answer (or failure), when answered
};

// Who said what in the last round of an operation (acquire, extend or release).
class tally {
 public:
  tally() = default;
  tally(std::vector<node_report> nodes, int attempts)
      : nodes_(std::move(nodes)), attempts_(attempts) {}

  std::size_t granted() const noexcept { return count(vote::granted); }
  std::size_t refused() const noexcept { return count(vote::refused); }
  std::size_t failed() const noexcept { return count(vote::failed); }
  std::size_t unanswered() const noexcept { return count(vote::unanswered); }
  // One entry per node, in the order the endpoints were given.
  const std::vector<node_report>& nodes() const noexcept { return nodes_; }
  // Rounds this operation ran (acquire retries while its wait budget lasts).
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

namespace detail {
[[noreturn]] REDLOCK_API void throw_bad_result_access(std::error_code error,
                                                      const std::string& message);
}

// Shared by result<T> and result<void>: the error side and the tally.
class [[nodiscard]] result_base {
 public:
  std::error_code error() const noexcept { return error_; }
  // A sentence naming what went wrong (which option, which endpoint, which nodes); empty on
  // success.
  const std::string& message() const noexcept { return message_; }
  const redlock::tally& tally() const noexcept { return tally_; }
  // Moves the tally out (the result keeps an empty one).
  redlock::tally take_tally() noexcept { return std::move(tally_); }

 protected:
  result_base() = default;
  result_base(std::error_code error, std::string message, redlock::tally t)
      : error_(error), message_(std::move(message)), tally_(std::move(t)) {}
  void check() const {
    if (error_) detail::throw_bad_result_access(error_, message_);
  }

  std::error_code error_;
  std::string message_;
  redlock::tally tally_;
};

template <class T>
class [[nodiscard]] result : public result_base {
 public:
  result(T value, redlock::tally t = {})
      : result_base({}, {}, std::move(t)), value_(std::move(value)) {}
  result(std::error_code error, std::string message, redlock::tally t = {})
      : result_base(error, std::move(message), std::move(t)) {}

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
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
};

template <>
class [[nodiscard]] result<void> : public result_base {
 public:
  result(redlock::tally t = {}) : result_base({}, {}, std::move(t)) {}
  result(std::error_code error, std::string message, redlock::tally t = {})
      : result_base(error, std::move(message), std::move(t)) {}

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const { check(); }
};

}  // namespace redlock
