// Error codes of the redlock library.
//
// Every failure the library reports is a std::error_code in redlock's category, with a
// message that names the problem. Outcomes a caller must expect (the lock is taken, too few
// nodes answered) are returned as values (see result.hpp), never thrown.
//
//   redlock::result<redlock::lease> r = locks->acquire("orders:42");  // default ttl: 10 s
//   if (r.error() == redlock::errc::held_elsewhere) { /* someone else holds it */ }
#pragma once

#include <string>
#include <system_error>

#include "redlock/export.hpp"

namespace redlock {

/// X-macro table: name, value, retryable, message. Each line says when the code happens and
/// whether a retry can help (the third column, which is_retryable() returns). Round-level codes
/// come first, then the per-node reasons of a tally.
#define REDLOCK_ERRC_TABLE(X)                                                                    \
  /* Another owner holds the key on enough nodes that no majority is possible. Retry later */    \
  /* (or acquire with a wait budget).                                                      */    \
  X(held_elsewhere, 1, true, "the lock is held by another owner")                                \
  /* Too many nodes failed (down, timed out, error reply) to reach a majority. Retry once  */    \
  /* the nodes recover; the tally names the failed nodes and why.                          */    \
  X(no_quorum, 2, true, "too few nodes answered to form a majority")                             \
  /* A majority granted the request, but the time it took (plus clock drift) used up the   */    \
  /* whole ttl. Retry; if it persists, the ttl is too short for these nodes.               */    \
  X(validity_spent, 3, true, "the lock's validity was spent before a majority answered")         \
  /* The lease is no longer held by a majority (expired, or its keys are gone or taken).   */    \
  /* Do not retry extending: stop the protected work and acquire again.                    */    \
  X(lock_lost, 4, false, "the lock is no longer held")                                           \
  /* An option has a bad value; the message names the option. Fix the caller; no retry.    */    \
  X(invalid_option, 5, false, "invalid option")                                                  \
  /* An endpoint URL is malformed or repeated; the message names the URL. No retry.         */   \
  X(invalid_endpoint, 6, false, "invalid endpoint")                                              \
  /* The lease was released or moved from. No retry.                                       */    \
  X(empty_lease, 7, false, "the lease holds no lock")                                            \
  /* The client is shutting down or gone. No retry on this client.                         */    \
  X(client_closed, 8, false, "the client is closed")                                             \
  /* A blocking call was made on the thread that runs the client's loop, where it would     */   \
  /* wait for itself forever. Use the async_client calls there. No retry.                  */    \
  X(would_deadlock, 9, false, "blocking call on the client's own loop thread")                   \
  /* No majority is possible because nodes refuse our configuration (wrong password, missing */  \
  /* ACL permission, unknown db), name the same server twice, or have settings that can lose */  \
  /* keys (unsafe_server). Retrying cannot help: fix the endpoints, the server's ACL or its  */  \
  /* settings. The tally names each node and the server's words.                             */  \
  X(misconfigured, 10, false, "the nodes refuse the client's configuration")                     \
  /* More requests than the client may have in flight to a node (512), and no room freed   */    \
  /* within the request's budget (an acquire's wait, a lease's validity): it never left.   */    \
  /* Retry after a pause, or spread the load. Also the per-node reason of such a request.  */    \
  X(overloaded, 11, true, "too many requests in flight to the nodes")                            \
  /* The caller cancelled the acquire (acquire_options::cancel).                          */     \
  X(cancelled, 12, false, "the acquire was cancelled")                                           \
  /* A fencing acquire found the resource's stored fence at 2^64-1 (set by hand?): there is  */  \
  /* no larger number to hand out, so it refuses rather than wrap. No retry fixes it.        */  \
  X(fence_exhausted, 13, false, "the resource's fencing tokens are used up")                     \
  /* lease::detach: an extend of the lock may still run late on a node (it timed out with its */ \
  /* outcome unknown) and shorten the keys under the process that adopts it, which cannot   */   \
  /* know. The lease keeps the lock: use it, or release it. No retry fixes it.               */  \
  X(handover_unsafe, 14, false, "the lock cannot be handed over safely")                         \
  /* Per-node: the node was disconnected; the request failed at once without being sent.   */    \
  X(node_down, 20, true, "node is down")                                                         \
  /* Per-node: no reply within node_timeout; the connection is recycled.                   */    \
  X(node_timeout, 21, true, "node did not answer within node_timeout")                           \
  /* Per-node: the connection broke while the request was outstanding.                     */    \
  X(connection_lost, 22, true, "connection to the node was lost")                                \
  /* Per-node: the node answered with an error reply (kept verbatim in the tally), such as   */  \
  /* OOM, BUSY, READONLY or MASTERDOWN, which the node may recover from.                     */  \
  X(server_error, 23, true, "node answered with an error")                                       \
  /* Per-node: the connection handshake failed in a way the node may recover from (server's */   \
  /* words in the detail), e.g. LOADING while a restarted node loads its data.              */   \
  X(handshake_failed, 24, true, "node refused the connection handshake")                         \
  /* Per-node: the node's host name could not be resolved.                                 */    \
  X(resolve_failed, 25, true, "node's host name could not be resolved")                          \
  /* Per-node: the node answered something this library does not understand.              */     \
  X(unexpected_reply, 26, true, "node sent an unexpected reply")                                 \
  /* Per-node: the node refused our credentials, permissions or db (WRONGPASS, NOAUTH,       */  \
  /* NOPERM, invalid DB index), in the handshake or on a request. No retry fixes it.         */  \
  X(config_refused, 27, false, "node refused the client's credentials, permissions or db")       \
  /* Per-node: this endpoint reaches the same server (same run_id) as another endpoint, so  */   \
  /* it does not vote: one server, one vote. The detail names both endpoints.               */   \
  X(duplicate_server, 28, false, "endpoint names the same server as another endpoint")           \
  /* Per-node: the server (re)started less than the longest ttl plus drift ago, so it may   */   \
  /* have forgotten locks it granted before; it does not vote until then, and still gets    */   \
  /* releases (client_options::quarantine). The detail says why and for how long.           */   \
  X(quarantined, 29, true, "node restarted recently and does not vote yet")                      \
  /* Per-node: the server's settings can lose our keys (node_health::key_loss_risks: an     */   \
  /* evicting maxmemory_policy, a replica, a Cluster node), so it does not vote unless      */   \
  /* client_options::risky_nodes_vote. Fix the server's configuration; no retry helps.     */    \
  X(unsafe_server, 30, false, "the server's settings can lose the lock's keys")                  \
  /* Per-node: client_options::replica_ack is on and fewer replicas than asked acknowledged  */  \
  /* the write within its timeout (the detail names WAIT or WAITAOF and the count): the vote */  \
  /* fails, as if the node had not granted, and our key there gets the usual release.        */  \
  X(not_replicated, 31, true, "too few replicas acknowledged the write")                         \
  /* Per-node: a Sentinel group (redis+sentinel://) has no master now: no sentinel named one, */ \
  /* or the server named is not a master (a failover under way). The group's vote fails    */    \
  /* until its sentinels name a master again; the detail has each sentinel's answer.         */  \
  X(no_master, 32, true, "the Sentinel group has no master now")

/// The library's error codes: REDLOCK_ERRC_TABLE above lists them, each with when it happens
/// and whether a retry can help.
enum class errc : int {
#define REDLOCK_ERRC_ENUM(name, value, retryable, message) name = value,
  REDLOCK_ERRC_TABLE(REDLOCK_ERRC_ENUM)
#undef REDLOCK_ERRC_ENUM
};

/// The category of every errc. Its name() is "redlock".
REDLOCK_API const std::error_category& category() noexcept;

/// Makes an errc a std::error_code of the redlock category (found by argument-dependent
/// lookup, so `r.error() == errc::held_elsewhere` compiles).
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Whether trying again later can succeed, as the table above says for each code. False for
/// an empty code and for codes of other categories.
///
///   if (!held && redlock::is_retryable(held.error())) schedule_retry();
REDLOCK_API bool is_retryable(std::error_code error) noexcept;

/// The code's name as in the table above ("held_elsewhere", "no_quorum", ...), for example for
/// a metrics label; "unknown" for a value outside it.
REDLOCK_API const char* to_string(errc code) noexcept;

}  // namespace redlock

namespace std {
template <>
struct is_error_code_enum<redlock::errc> : true_type {};
}  // namespace std
