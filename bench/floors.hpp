// The floors every figure is compared with: one plain SET round trip (hiredis, blocking), the
// same SET fanned out to N nodes, the acquire script on K keys, the TLS floor (OpenSSL on
// blocking sockets), and what the servers can execute (pipelined SETs, the capacity row).
#pragma once

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace redlock::bench {

// The floor: a plain SET round trip to one node with hiredis's blocking API, one at a time
// (nodes = 1); or the same SET to N nodes at once, timed until a majority answered (then the
// rest are drained, untimed): what any client could do at best on this machine, with no event
// loop, deadlines or bookkeeping. With keys_per_lock = K, the command is the library's own
// acquire script (acquire.lua) on K keys instead: the servers' share of a lock on K resources.
class floor_measurer final : public measurer {
 public:
  explicit floor_measurer(const std::vector<std::string>& urls, std::size_t keys_per_lock = 0);
  ~floor_measurer() override;

 private:
  void run_for(clock_type::duration slice) override;

  std::vector<redisContext*> nodes_;
  std::size_t next_ = 0;
};

// The TLS floor (--tls): the floor's SET over blocking sockets with OpenSSL reading and
// writing them directly (socket BIOs), one at a time (nodes = 1) or to N nodes at once,
// timed until a majority answered. What any TLS client could do at best here: the part of
// the TLS rows' cost that is the servers' and the kernel's, not our memory BIOs and loop.
class tls_floor_measurer final : public measurer {
 public:
  explicit tls_floor_measurer(const std::vector<std::string>& urls);
  ~tls_floor_measurer() override;

 private:
  struct connection {
    int fd = -1;
    SSL* ssl = nullptr;
  };

  void connect(const std::string& url);
  void run_for(clock_type::duration slice) override;

  SSL_CTX* ctx_ = nullptr;
  std::vector<connection> nodes_;
  std::size_t next_ = 0;
};

// What the servers can execute: pipelined SETs (batches of 256) with one thread and one
// blocking connection per node, so that no node waits for another node's replies or for one
// client thread. ops counts SETs. Here the pipelining threads share the cores with the
// servers, so the SET/s reached is below what the servers could do alone; main() therefore
// derives the servers' capacity from their CPU per SET (the cpu_meter): cores / CPU per SET.
class capacity_measurer final : public measurer {
 public:
  explicit capacity_measurer(const std::vector<std::string>& urls);
  ~capacity_measurer() override;

 private:
  static constexpr int batch = 256;
  void run_for(clock_type::duration slice) override;
  // Batches of SETs to one node until `until`; returns how many were answered.
  static std::size_t pipeline_until(redisContext* c, clock_type::time_point until);

  std::vector<redisContext*> nodes_;
};

// The SET/s the servers would execute with every core to themselves: cores / their CPU per
// SET, measured while the pipelining threads ran. Without the CPU split (--servers, whose
// pids are unknown) the SET/s reached is all there is.
double servers_capacity(const row& pipelined);

}  // namespace redlock::bench
