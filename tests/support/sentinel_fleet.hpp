// A fleet of Sentinel-managed master groups of real processes, for integration tests of
// redis+sentinel:// voters. Each group is independent: its own master, its replicas
// (`replicaof` the master) and its own sentinels (`sentinel monitor groupN 127.0.0.1 P Q`, Q a
// majority of the group's sentinels), all on free loopback ports in one temp dir. The
// constructor returns once every replica is in sync and every sentinel knows the master, its
// replicas and the other sentinels, so a failover can happen right away.
//
//   redlock::testing::sentinel_fleet fleet(3);   // 3 groups: master + replica + 3 sentinels each
//   client_options o;
//   o.endpoints = fleet.urls();                  // "redis+sentinel://127.0.0.1:S1,.../group1", ...
//   ...
//   const std::size_t old = fleet.kill_master(0);  // SIGKILL; returns the data node's index
//   const std::uint16_t now = fleet.wait_for_failover(0, fleet.data_nodes(0).port(old));
//   fleet.data_nodes(0).restart(old);              // rejoins as a replica of `now` ...
//   fleet.wait_settled(0);                         // ... once the sentinels have converted it
//
// The processes are two redis_fleets per group (redis_fleet.hpp): data_nodes(g), whose node 0
// was the master at construction, and sentinels(g). Through them a test kills, pauses, resumes
// and restarts any process and sends it commands (data nodes with the requirepass, if any). A
// restart keeps the node's redis.conf as the server rewrote it: a data node that a sentinel made
// a replica stays one, a sentinel keeps what it learnt. Layout: <dir>/groupN/data/nodeI and
// <dir>/groupN/sentinels/nodeI, each with its redis.conf and redis.log.
//
// Sentinel's own timing, worth knowing in a test: it sends hellos every 2 s (how sentinels find
// each other), so construction takes a few seconds; a failover starts down_after after the
// master stopped answering, plus up to 1 s of random desync, and takes about a second more; a
// sentinel that lost a vote retries after 2 * failover_timeout; an old master that comes back is
// made a replica at the first INFO a sentinel takes of it at least 8 s after it saw it (one every
// 10 s: about 10 s); a sentinel paused for more than 2 s goes into TILT mode (30 s without acting)
// when resumed.
//
// A replica counts for WAIT only once its master streams to it, which after a full sync waits for
// the replica's first REPLCONF ACK (sent once a second): construction and wait_settled() wait for
// that too (the master lists the replica as state=online).
//
// Every process is a child of the thread that built the fleet and dies with it
// (PR_SET_PDEATHSIG), as in redis_fleet; the destructor stops them all and removes the dir.
// Not thread-safe, except that the const members may run concurrently with each other.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis_fleet.hpp"

namespace redlock::testing {

struct sentinel_fleet_options {
  // Replicas per group (replicaof the group's master); 0 is allowed, but then nothing can be
  // promoted.
  std::size_t replicas = 1;
  // Sentinels per group, at least 1; the quorum (`sentinel monitor ... Q`) is a majority.
  std::size_t sentinels = 3;
  // `sentinel down-after-milliseconds`: how long the master may not answer before a sentinel
  // thinks it down. Not much less than 1500 ms: after a failover a sentinel counts the new
  // master as unanswered from the switch on, but reconnects at most once a second (it tried the
  // dead master a moment ago), so with 500 ms it often calls the new master down at once and
  // fails over again, to whatever replica it has (seen here: back to a just restarted master).
  std::chrono::milliseconds down_after{1500};
  // `sentinel failover-timeout`: the bound on each step of a failover, twice it between two
  // failover attempts of one sentinel, and how long a returning old master stays master.
  std::chrono::milliseconds failover_timeout{2000};
  // Non-empty: the sentinels' own password (requirepass, and sentinel-pass so that they still
  // reach each other); their call()/command() AUTH with it.
  std::string sentinel_password;
  // For the data nodes (persistence, requirepass, acl_users, extra_config, ...). With a
  // requirepass the nodes get `masterauth` and the sentinels `sentinel auth-pass`, and url(g)
  // carries the password. With tls, every process keeps its plain port (command(), call()) and
  // the group runs on the TLS ports: replication, the sentinels' links and what they announce,
  // and url(g) is rediss+sentinel:// with the sentinels' TLS ports; one certificate set serves
  // every group (certs()). dir is refused (std::invalid_argument): the fleet places the nodes.
  node_options data_nodes;
  // How long construction (and wait_settled() by default) waits for replication and the
  // sentinels to settle.
  std::chrono::milliseconds settle_timeout{20000};
};

class sentinel_fleet {
 public:
  static constexpr std::chrono::milliseconds default_failover_wait{20000};

  // Starts `groups` groups (at least 1) and waits until they have settled (wait_settled()).
  // Throws std::invalid_argument for a refused option, and std::runtime_error naming the group,
  // the process and the tail of its log if something does not start or settle in time;
  // everything started so far is then cleaned up.
  explicit sentinel_fleet(std::size_t groups, sentinel_fleet_options options = {});
  // Stops every process (SIGKILL, waitpid) and removes the temp dir.
  ~sentinel_fleet();
  sentinel_fleet(const sentinel_fleet&) = delete;
  sentinel_fleet& operator=(const sentinel_fleet&) = delete;

  std::size_t size() const { return groups_.size(); }  // the number of groups
  const sentinel_fleet_options& options() const { return options_; }
  // The `sentinel monitor` quorum of every group: a majority of options().sentinels.
  std::size_t quorum() const { return options_.sentinels / 2 + 1; }
  const std::string& dir() const { return dir_; }
  // The fleet's certificates (data_nodes.tls only; else empty paths): trust ca_cert.
  const cert_set& certs() const { return certs_; }
  // The port the group announces for a data node, and for a sentinel: the TLS port in a TLS
  // fleet. master_port(), wait_for_failover() and url() speak these.
  std::uint16_t data_port(std::size_t g, std::size_t node) const;
  std::uint16_t sentinel_port(std::size_t g, std::size_t s) const;

  // "group1", "group2", ... for g = 0, 1, ...
  std::string master_name(std::size_t g) const;
  // "redis+sentinel://[:<requirepass>@]127.0.0.1:<S0>,127.0.0.1:<S1>,.../<master_name(g)>", the
  // password percent-encoded.
  std::string url(std::size_t g) const;
  std::vector<std::string> urls() const;

  // The group's processes. data_nodes(g) has 1 + options().replicas nodes; node 0 was the master
  // at construction. Its call()/command() AUTH with the requirepass, if any.
  redis_fleet& data_nodes(std::size_t g);
  const redis_fleet& data_nodes(std::size_t g) const;
  redis_fleet& sentinels(std::size_t g);
  const redis_fleet& sentinels(std::size_t g) const;

  // What the group's running, unpaused sentinels say now (SENTINEL get-master-addr-by-name):
  // the port most of them name. Throws std::runtime_error if none answers.
  std::uint16_t master_port(std::size_t g) const;
  // The data node at master_port(g). Throws std::runtime_error if the sentinels name a port
  // that is none of the group's data nodes.
  std::size_t master_node(std::size_t g) const;
  // The k-th (from 0) data node that is not master_node(g). Throws std::out_of_range.
  std::size_t replica_node(std::size_t g, std::size_t k = 0) const;
  // "master" or "slave": the role the data node itself reports (INFO replication). Throws
  // transport_error if it does not answer.
  std::string role(std::size_t g, std::size_t node) const;

  // Whether `master_info` (a master's INFO replication) lists the data node `node` of group g as
  // state=online: the master streams to it, so WAIT counts it.
  bool lists_online(std::size_t g, const std::string& master_info, std::size_t node) const;

  // Kills (SIGKILL) the data node that the sentinels call master and returns its index.
  std::size_t kill_master(std::size_t g);
  // Waits until a quorum of the group's sentinels names one master other than
  // 127.0.0.1:old_master_port and that node says role:master, and returns its port. Throws
  // std::runtime_error after `timeout`, with what each sentinel said and log_tails(g).
  std::uint16_t wait_for_failover(std::size_t g, std::uint16_t old_master_port,
                                  std::chrono::milliseconds timeout = default_failover_wait);
  // Waits until the group is healthy again, looking only at running, unpaused processes: the
  // sentinels agree on the master, which says role:master; every other data node is its replica
  // with the link up, and online for the master (WAIT counts it); every sentinel sees the master
  // up, each replica in sync and the other sentinels connected. Throws std::runtime_error after
  // `timeout` (0: options().settle_timeout) with what was still missing and log_tails(g).
  void wait_settled(std::size_t g, std::chrono::milliseconds timeout = {});
  // The last `lines` lines of the log of each of the group's sentinels and data nodes, each
  // under a heading that names it, for failure messages: what the sentinels decided and when.
  std::string log_tails(std::size_t g, std::size_t lines = 15) const;

 private:
  struct group {
    std::string name;
    std::unique_ptr<redis_fleet> data;
    std::unique_ptr<redis_fleet> sentinels;
  };

  const group& at(std::size_t g) const;
  void start_group(std::size_t g);
  void start_sentinels(std::size_t g);
  // Which port each sentinel names as the master; 0 for one that is down, paused or silent.
  std::vector<std::uint16_t> reported_master_ports(std::size_t g) const;
  std::size_t node_at_port(std::size_t g, std::uint16_t port) const;
  // What keeps the group from being settled, or "" once it is.
  std::string unsettled_reason(std::size_t g) const;
  void cleanup() noexcept;

  sentinel_fleet_options options_;
  std::string dir_;
  cert_set certs_;
  std::vector<group> groups_;
};

}  // namespace redlock::testing
