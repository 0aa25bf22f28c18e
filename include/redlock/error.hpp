// Error codes of the redlock library.
//
// Every failure the library reports is a std::error_code in redlock's category, with a
// message that names the problem. Outcomes a caller must expect (the lock is taken, too few
// nodes answered) are returned as values (see result.hpp), never thrown.
//
//   redlock::result<redlock::lease> r = locks.acquire("orders:42");  // default ttl: 10 s
//   if (r.error() == redlock::errc::held_elsewhere) { /* someone else holds it */ }
#pragma once

#include <string>
#include <system_error>

#include "redlock/export.hpp"

namespace redlock {

// X-macro table: name, value, message. Each line says when the code happens and whether a
// retry can help. Round-level codes come first, then the per-node reasons of a tally.
#define REDLOCK_ERRC_TABLE(X)                                                                      \
  /* Another owner holds the key on enough nodes that no majority is possible. Retry later */      \
  /* (or acquire with a wait budget).                                                      */      \
  X(held_elsewhere, 1, "the lock is held by another owner")                                        \
  /* Too many nodes failed (down, timed out, error reply) to reach a majority. Retry once  */      \
  /* the nodes recover; the tally names the failed nodes and why.                          */      \
  X(no_quorum, 2, "too few nodes answered to form a majority")                                     \
  /* A majority granted the request, but the time it took (plus clock drift) used up the   */      \
  /* whole ttl. Retry; if it persists, the ttl is too short for these nodes.               */      \
  X(validity_spent, 3, "the lock's validity was spent before a majority answered")                 \
  /* The lease is no longer held by a majority (expired, or its keys are gone or taken).   */      \
  /* Do not retry extending: stop the protected work and acquire again.                    */      \
  X(lock_lost, 4, "the lock is no longer held")                                                    \
  /* An option has a bad value; the message names the option. Fix the caller; no retry.    */      \
  X(invalid_option, 5, "invalid option")                                                           \
  /* An endpoint URL is malformed or repeated; the message names the URL. No retry.         */     \
  X(invalid_endpoint, 6, "invalid endpoint")                                                       \
  /* The lease was released or moved from. No retry.                                       */      \
  X(empty_lease, 7, "the lease holds no lock")                                                     \
  /* The client is shutting down or gone. No retry on this client.                         */      \
  X(client_closed, 8, "the client is closed")                                                      \
  /* A blocking call was made on the thread that runs the client's loop, where it would     */     \
  /* wait for itself forever. Use the async_client calls there. No retry.                  */      \
  X(would_deadlock, 9, "blocking call on the client's own loop thread")                            \
  /* Per-node: the node was disconnected; the request failed at once without being sent.   */      \
  X(node_down, 20, "node is down")                                                                 \
  /* Per-node: no reply within node_timeout; the connection is recycled.                   */      \
  X(node_timeout, 21, "node did not answer within node_timeout")                                   \
  /* Per-node: the connection broke while the request was outstanding.                     */      \
  X(connection_lost, 22, "connection to the node was lost")                                        \
  /* Per-node: the node answered with an error reply (kept verbatim in the tally).         */      \
  X(server_error, 23, "node answered with an error")                                               \
  /* Per-node: AUTH, SELECT or PING was refused on connect (server's words in the detail), e.g. */ \
  /* WRONGPASS, or LOADING while a restarted node loads its data.                            */    \
  X(handshake_failed, 24, "node refused the connection handshake")                                 \
  /* Per-node: the node's host name could not be resolved.                                 */      \
  X(resolve_failed, 25, "node's host name could not be resolved")                                  \
  /* Per-node: the node answered something this library does not understand.              */       \
  X(unexpected_reply, 26, "node sent an unexpected reply")

enum class errc : int {
#define REDLOCK_ERRC_ENUM(name, value, message) name = value,
  REDLOCK_ERRC_TABLE(REDLOCK_ERRC_ENUM)
#undef REDLOCK_ERRC_ENUM
};

// The category of every errc. Its name() is "redlock".
REDLOCK_API const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace redlock

template <>
struct std::is_error_code_enum<redlock::errc> : std::true_type {};
