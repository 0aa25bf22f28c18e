// The flags of redlock-torture, for both of its modes: the driver (the default) and a client
// process (--client-mode, started by the driver). docs/torture.md lists every flag.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "checker.hpp"
#include "outcome.hpp"

namespace redlock::torture {

// Bounds shared by the driver and the clients.
constexpr std::chrono::milliseconds min_ttl{300};
constexpr std::chrono::milliseconds max_ttl{1500};  // also quarantine.max_ttl
constexpr std::chrono::milliseconds max_wait{1000};
// The protected work stops writing this long before the validity the history holds.
constexpr std::chrono::milliseconds write_margin{30};
// eviction: each node's maxmemory, and how much the filler writes into one node (past it).
constexpr std::size_t eviction_maxmemory_bytes = 8u << 20;
constexpr std::size_t eviction_filler_keys = 2560;  // of 4 KiB each: 10 MiB

enum class scenario {
  healthy,                 // no faults
  faults,                  // the seeded random schedule of node and client faults
  restart_no_persistence,  // the negative control (with --no-quarantine) and its twin
  clock_jump,              // a negative control: a forward clock jump on a bare majority's node
  double_restart,          // the seeded mark's limit: both nodes of a bare majority forget
  eviction,                // a negative control (volatile-lru) and its twin (noeviction)
  sentinel,                // Sentinel groups as voters: promotions, with and without replica acks
};
const char* to_string(scenario s) noexcept;

struct run_options {
  // The driver.
  std::size_t nodes = 3;
  std::size_t clients = 4;
  std::size_t resources = 2;
  std::chrono::milliseconds duration{20'000};
  std::uint64_t seed = 0;
  bool seed_given = false;
  bool persistence = false;
  bool quarantine = true;
  effect_mode effects = effect_mode::fenced;
  torture::scenario scenario = scenario::faults;
  std::string json_path;
  std::string dir;  // empty: a fresh temp dir
  bool expect_violation = false;
  std::chrono::milliseconds fault_interval{700};
  // clock_jump: how far node x's wall clock jumps forward (more than max_ttl, to expire keys).
  std::chrono::milliseconds clock_jump{5000};
  // Fenced acquires: 1 --fencing, 0 --no-fencing, -1 not given (on).
  int fencing = -1;
  int client_pauses = -1;  // -1: on in fenced runs only (unfenced work cannot survive them)
  // Negative controls only (lib/test_knobs.hpp): the votes that make a majority (0: the
  // library's majority), and seeding an UNSEEDED node without reading the others.
  std::size_t quorum = 0;
  bool seed_blindly = false;
  // restart_no_persistence: restart node x this long after its kill (0: at once). More than
  // max_ttl plus drift is the quarantine's mitigated twin: a delayed restart.
  std::chrono::milliseconds restart_delay{0};
  // eviction: the nodes' maxmemory-policy (volatile-lru: the negative control, noeviction:
  // its twin). The clients let such nodes vote (client_options::risky_nodes_vote).
  std::string eviction_policy = "volatile-lru";
  bool risky_nodes_vote = false;  // a client process's flag, set by the driver
  // client_options::replica_ack.replicas in every client; -1: not given (1 in the sentinel
  // scenario, where 0 is its negative control, and 0 elsewhere).
  int replica_acks = -1;

  bool verbose = false;

  // A client process (--client-mode).
  bool client_mode = false;
  std::string name;
  std::string history_path;
  std::vector<std::string> endpoints;
  std::uint16_t store_port = 0;
};

// Parses argv (without argv[0]). A failure names the flag.
outcome<run_options> parse_options(const std::vector<std::string>& args);
// The usage text.
std::string usage();

}  // namespace redlock::torture
