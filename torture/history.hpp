// The history of a torture run: what each client invoked, what came back, when a lease was
// declared lost, and what the protected work did. One JSON object per line, one file per
// client process; docs/torture.md describes every field.
//
// Time: every time is a std::chrono::steady_clock::time_point, written as integer nanoseconds
// since its epoch. On Linux steady_clock reads CLOCK_MONOTONIC (libstdc++ and libc++ alike),
// which every process on the machine shares, so the histories of all clients are on one clock,
// and a lease's valid_until() can be recorded as it is.
//
// Writing (in each client process):
//
//   auto out = history_writer::open("run/c3.jsonl");
//   if (!out) die(out.error());
//   (void)out->write({steady_clock::now(), "c3", acquire_call(17, {"r1"}, 500ms)});  // before
//   auto held = locks.acquire("r1", o);
//   success done{17, held->token(), held->valid_until(), held->fence(), "3 of 5 nodes granted"};
//   (void)out->write({steady_clock::now(), "c3", done});  // after the answer
//
// Reading (in the checker):
//
//   auto h = read_history("run/c3.jsonl");
//   if (!h) die(h.error());                  // "run/c3.jsonl:12: column 5: expected ..."
//   if (h->skipped) note(h->skipped_reason); // the client was killed while writing its last line
//
// Rules the writer keeps and the reader enforces, so a bad record is caught where it is made:
// a client name is not empty; an acquire names at least one resource and has a ttl; extend,
// release and check name a token; no field of another phase or op appears in a record.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "outcome.hpp"

namespace redlock::torture {

using time_point = std::chrono::steady_clock::time_point;

// Nanoseconds since steady_clock's epoch (CLOCK_MONOTONIC), as written in the histories, and
// back.
std::int64_t to_nanos(time_point t) noexcept;
time_point from_nanos(std::int64_t ns) noexcept;

enum class op { acquire, extend, release, check };
// "acquire", "extend", "release", "check".
const char* to_string(op o) noexcept;

// phase "invoke": a call is about to be made. `call` is unique per client: the completion
// names it.
struct invocation {
  std::uint64_t call = 0;
  torture::op op = op::acquire;
  std::vector<std::string> resources;  // acquire: every resource of the lock (at least one)
  std::chrono::milliseconds ttl{0};    // acquire, extend: the ttl asked for
  std::chrono::milliseconds wait{0};   // acquire: its wait budget (0: one attempt)
  bool fenced = false;                 // acquire: fencing asked for
  std::string token;                   // extend, release, check: the lease's token
};

// The invocations of each op, with exactly the fields that op has.
invocation acquire_call(std::uint64_t call, std::vector<std::string> resources,
                        std::chrono::milliseconds ttl,
                        std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                        bool fenced = false);
invocation extend_call(std::uint64_t call, std::string token, std::chrono::milliseconds ttl);
invocation release_call(std::uint64_t call, std::string token);
invocation check_call(std::uint64_t call, std::string token);

// phase "ok": the call succeeded.
struct success {
  std::uint64_t call = 0;
  std::string token;  // acquire: the new lease's token (required); others: may be empty
  // acquire, extend, check: the validity the library reported (lease::valid_until()).
  std::optional<time_point> valid_until;
  std::optional<std::uint64_t> fence;  // a fenced acquire: lease::fence()
  std::string tally;                   // the round's tally in words, for people
};

// phase "fail": the call failed.
struct failure {
  std::uint64_t call = 0;
  std::string error;    // the errc's name: "held_elsewhere", "lock_lost", "no_quorum", ...
  std::string message;  // result::message()
  // extend, check: the lease's validity after the failure, when the library reported one
  // (it may be shorter than before).
  std::optional<time_point> valid_until;
};

// phase "lost": the lease told its holder it is lost (on_lost).
struct lost_signal {
  std::string token;
  std::string cause;  // lease_lost::cause as a word: "refused", "margin_reached", ...
};

// phase "effect": one read-sleep-write of the shared counter of `resource`, done while
// holding the lease `token`.
struct effect {
  std::string token;
  std::string resource;
  std::int64_t read = 0;               // the counter's value read
  std::int64_t wrote = 0;              // the value written (read + 1)
  std::optional<std::uint64_t> fence;  // the fence sent with the write (fenced runs)
  bool accepted = false;               // the store applied the write
  // When the write was sent to the store (optional). The record's own t is stamped after the
  // store answered; with `sent` the checker can tell two writes apart that crossed.
  std::optional<time_point> sent;
};

using event = std::variant<invocation, success, failure, lost_signal, effect>;

// One line of a history.
struct record {
  time_point t;        // when it happened (after the answer, for a completion)
  std::string client;  // the client process's name, e.g. "c3"
  event what;
};

// "invoke", "ok", "fail", "lost" or "effect".
const char* phase_of(const event& e) noexcept;

// The record as one line of JSON, without the newline; fields in the order of
// docs/torture.md, strings escaped (a token may hold any bytes: the line stays one line).
// Fails when the record breaks a rule above.
outcome<std::string> to_json_line(const record& r);

// One line (without its newline) back into a record.
outcome<record> parse_record(std::string_view line);

// Appends records to a file, one line each, each line handed to the kernel with one write(2)
// before write() returns: a process killed by SIGKILL loses at most the line it was writing
// (a partial last line, which read_history() skips). Not fsync'd: a machine crash may lose
// more. A history_writer is move-only; it is not synchronized (one per thread, or a mutex).
class history_writer {
 public:
  // Opens (creating it, mode 0644) `path` for appending (O_APPEND); the writer owns the fd.
  // A restarted client must write to a new file: its predecessor may have left a partial
  // line, which would then sit in the middle.
  static outcome<history_writer> open(const std::string& path);
  // Writes to `fd`, which stays the caller's (not closed by the writer).
  explicit history_writer(int fd) noexcept : fd_(fd) {}

  history_writer(history_writer&& other) noexcept;
  history_writer& operator=(history_writer&& other) noexcept;
  history_writer(const history_writer&) = delete;
  history_writer& operator=(const history_writer&) = delete;
  ~history_writer();

  // Appends r and a newline. Fails (writing nothing) when r breaks a rule above, or with the
  // system's words when write(2) fails.
  outcome<void> write(const record& r);

 private:
  history_writer(int fd, bool owned) noexcept : fd_(fd), owned_(owned) {}
  int fd_ = -1;
  bool owned_ = false;
};

// A history file, read.
struct history {
  std::vector<record> records;  // in file order
  // 1 when the last line was cut short or malformed (the client was killed while writing
  // it) and was left out; else 0.
  std::size_t skipped = 0;
  std::string skipped_reason;  // why, naming the file and line, when skipped
};

// Reads every line of a history. A malformed line before the last one is an error naming the
// file and the line ("c3.jsonl:12: column 5: ..."); a malformed or truncated last line is
// skipped and counted. An empty file is an empty history.
outcome<history> read_history(const std::string& path);
// The same on text already in memory; `name` stands for the file in messages.
outcome<history> parse_history(std::string_view text, std::string_view name);

}  // namespace redlock::torture
