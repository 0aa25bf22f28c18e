// Options of a client and of one acquire call. Every value is checked when it is used
// (client::create, async_client::create, acquire); a bad one is refused with
// errc::invalid_option and a message naming the option.
//
//   redlock::client_options o;
//   o.endpoints = {"redis://10.0.0.1:6379", "redis://10.0.0.2:6379", "redis://10.0.0.3:6379"};
//   o.node_timeout = 20ms;
//   auto locks = redlock::client::create(o);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "redlock/cancel.hpp"

namespace redlock {

struct lease_lost;

/// TLS for rediss:// endpoints (OpenSSL, TLS 1.2 at least). Verification is on by default: the
/// server's certificate must chain to a trusted CA (ca_file and/or ca_dir, or the system's
/// store when both are empty) and name the server (server_name, or each endpoint's host). Files
/// are read by client::create, which names any it cannot use.
struct tls_options {
  std::string ca_file;      ///< PEM file of trusted CA certificates
  std::string ca_dir;       ///< directory of hashed CA certificates (c_rehash)
  std::string cert_file;    ///< client certificate (PEM), for servers that require one
  std::string key_file;     ///< its private key (PEM); required with cert_file
  std::string server_name;  ///< for SNI and verification; empty: each endpoint's host
  /// Accepts any certificate from the server. Anyone on the network path can then pose as the
  /// nodes, grant locks and see tokens: for tests only.
  bool insecure_skip_verify = false;
};

/// Restarted-node quarantine (docs/safety.md, "Restarts"). A server restarted without
/// persistence has forgotten the locks it granted, and its vote could hand one out again. With
/// the quarantine on, a server that may have (re)started less than max_ttl plus drift ago (by
/// its uptime_in_seconds, or a new run_id seen on its endpoint) does not vote in acquires,
/// extends or ownership checks until then (errc::quarantined in the tally, and
/// node_health::quarantine_left); it still gets releases. A fleet started just now therefore
/// grants nothing for max_ttl: turn the quarantine off only for servers that persist every
/// write (appendfsync always) or that have never granted a lock of a running holder.
struct quarantine_options {
  bool enabled = true;  ///< off only for servers that persist every write (see above)
  /// The longest ttl any client of these servers uses. With the quarantine on, an acquire or
  /// extend with a longer ttl is refused (invalid_option). > 0 and at most one year.
  std::chrono::milliseconds max_ttl{60'000};
};

/// Replica-acknowledged votes (docs/safety.md, "Sentinel groups"). A master that grants our key
/// and dies before a replica has it can be replaced by that replica, which never saw the key:
/// with this on, a node's grant or extend counts only once `replicas` of its replicas
/// acknowledged the write. After the script, the node is sent `WAIT replicas timeout` (or
/// `WAITAOF 1 replicas timeout` on Redis 7.2 and later when the server has appendonly on, which
/// also waits for the write to reach the master's own disk); fewer acknowledgements make the
/// vote fail (errc::not_replicated, the command that ran in the tally detail), and the key on
/// that node gets the usual release. The wait is part of the round, so the validity covers it.
struct replica_ack_options {
  /// Replicas that must acknowledge each grant and extend, on every node; 0: off.
  int replicas = 0;
  /// How long each node waits for them (WAIT's timeout); 0: half the node_timeout. Must be
  /// less than node_timeout, so that the answer comes within it.
  std::chrono::milliseconds timeout{0};
};

/// Options of a client (client::create, async_client::create): its nodes, deadlines, retries
/// and what may vote.
struct client_options {
  /// One URL per independent Redis master (not replicas of each other):
  ///   redis://[user[:password]@]host[:port][/db]    host: name, IPv4 or [IPv6]; port 6379
  ///   rediss://...                                  the same over TLS (see `tls`)
  ///   unix:///path/to.sock[?db=N&user=U&password=P]
  /// Percent-escapes (%40 for '@') are decoded in user and password. At least one; no two may
  /// name the same server (same host and port, or same socket path).
  std::vector<std::string> endpoints;

  /// Deadline of each request to a node. Keep it small against the ttl (a few ms to tens of
  /// ms): a node slower than this counts as failed and its connection is recycled.
  std::chrono::milliseconds node_timeout{50};
  /// Deadline of a (re)connect: resolve, TCP connect, AUTH, SELECT and a PING.
  std::chrono::milliseconds connect_timeout{1000};
  ///@{
  /// Reconnect backoff after a connection fails: doubles from min to max, with full jitter.
  std::chrono::milliseconds reconnect_min{20};
  std::chrono::milliseconds reconnect_max{1000};
  ///@}

  /// Clock drift allowance, as a fraction of the ttl, in [0, 0.5). Validity of a lock is
  /// ttl - elapsed - (ttl * drift_factor + 2 ms).
  double drift_factor = 0.01;

  ///@{
  /// Pause between acquire attempts while the caller's wait budget lasts:
  /// retry_delay + uniform(0, retry_jitter). A waiter tries again sooner when a node publishes
  /// the lock's release (waiting by notification): the delay is the fallback for locks that
  /// expire instead.
  std::chrono::milliseconds retry_delay{50};
  std::chrono::milliseconds retry_jitter{50};
  ///@}

  /// The Redis key of resource R is key_prefix + R.
  std::string key_prefix = "redlock:";

  /// For every rediss:// endpoint.
  tls_options tls;

  quarantine_options quarantine;  ///< restarted servers do not vote for a while; on by default

  /// Whether a server whose settings can lose our keys (node_health::key_loss_risks: an
  /// evicting maxmemory_policy, a role other than master, cluster_enabled) may vote. By
  /// default it may not: its vote fails with errc::unsafe_server, naming the setting.
  bool risky_nodes_vote = false;

  replica_ack_options replica_ack;  ///< votes that count once replicas have the write; off

  ///@{
  /// The sentinels' own credentials, for every redis+sentinel:// endpoint (the URL's user and
  /// password are the masters'): AUTH [user] password on each sentinel connection. Both empty:
  /// the sentinels are asked without AUTH.
  std::string sentinel_user;
  std::string sentinel_password;
  ///@}
};

/// Auto-extension: the client keeps the lock alive on its own loop, one extend round at a
/// time, each needing a majority within the remaining validity (as lease::extend). A failed
/// extension is tried again after retry_delay while validity lasts; a refused one ends it.
struct auto_extend_options {
  bool enabled = false;  ///< off by default: the holder extends the lease itself
  /// Each extension starts once this fraction has passed of the validity that the grant or the
  /// last extension left (valid_until() - now, when that round ended), and at the latest one
  /// node_timeout before the lost margin. In (0, 1), and below 1 - lost_margin - drift_factor.
  double extend_at = 0.5;
  /// Stop extending this long after the grant (0: no cap); the lease then ends as its ttl
  /// runs out, and is declared lost (max_hold_reached) at the margin.
  std::chrono::milliseconds max_hold{0};
};

/// Options of one acquire (client::acquire, acquire_all, with_lock and their async forms).
struct acquire_options {
  /// How long the lock lives on each node. Must be > 0, at most 1 year, and larger than the
  /// client's node_timeout.
  std::chrono::milliseconds ttl{10'000};
  /// How long to keep retrying while the lock is busy or the nodes fail; 0 = one attempt.
  /// While it waits, the acquire is woken by the holder's release (see retry_delay).
  std::chrono::milliseconds wait{0};
  /// Upper bound on the number of attempts within the wait budget (>= 1).
  int max_attempts = 1'000'000;

  auto_extend_options auto_extend;  ///< keeping the lock alive on the client's loop; off by default
  /// The lease is declared lost this fraction of the ttl before valid_until(), so that its
  /// holder is told while there is still time to stop: never after valid_until(). In [0, 0.5],
  /// and with the client's drift_factor at most 0.5.
  double lost_margin = 0.1;
  /// Runs at most once, on the client's loop thread, when the lease is lost (see lost.hpp);
  /// never after the lease was released. It must not block: the loop serves every lock. (On a
  /// client, the loop thread is whichever runs the loop then, possibly one of yours blocked
  /// in a call on the client: see client.hpp, contract 6.)
  std::function<void(const lease_lost&)> on_lost;
  /// Calls the acquire off from any thread (see cancel.hpp): it fails with errc::cancelled.
  std::optional<cancel_token> cancel;
  /// Fencing token (lease::fence()): the granted lease carries a number strictly greater than
  /// that of every fenced lease granted earlier for the same resource, while a majority of the
  /// nodes keeps its data (docs/safety.md). Costs one more round before the grant (the number
  /// is stored on a majority that still holds our key), within the validity: if that round
  /// fails the acquire fails as a lost round does (no_quorum, validity_spent, misconfigured;
  /// retried within `wait`) and our keys are released. errc::fence_exhausted at 2^64-1. The
  /// numbers live in one Redis hash whose key is key_prefix itself (never a lock key, since
  /// resources are not empty), with the resource as the field, and no ttl; so fencing needs a
  /// non-empty key_prefix. A node whose hash lost its seeded mark (a fresh or emptied server)
  /// is seeded from the other nodes first; an attempt lost on such nodes is tried once more
  /// when their seeding ends (within 5 s), even with wait 0 or max_attempts 1.
  bool fencing = false;
};

}  // namespace redlock
