// sentinel_group: the sentinels of one redis+sentinel:// endpoint. They name the group's master
// (SENTINEL get-master-addr-by-name) each time a node of the group connects, and announce its
// failovers (+switch-master on their pub/sub), which the group's nodes follow at once.
//
// One command connection and one subscriber connection per sentinel, each a `node` in sentinel
// mode (its handshake is AUTH with client_options::sentinel_user and sentinel_password, if
// given, then a PING: no SELECT, INFO or scripts). Every sentinel is asked at
// once and the first that names a master wins: a sentinel that has not yet seen a failover may
// name the old master, which the node then finds to be a replica or down (it checks role:master
// in its handshake) and asks again after its backoff.
//
//   sentinel_group group(loop, services, clock, where, options, tls, seed);
//   group.start();
//   group.locate([](result<endpoint::address> master) { ... });
//
// Loop thread only. Callbacks never run inside locate().
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "node/node.hpp"

namespace redlock::detail {

class sentinel_group {
 public:
  using located = std::function<void(result<endpoint::address> master)>;
  using switched = std::function<void(const endpoint::address& master)>;

  sentinel_group(uv_loop_t* loop, loop_services& services, const clock& clock,
                 const endpoint& group, const client_options& options,
                 std::shared_ptr<const tls_context> tls, std::uint64_t seed);
  sentinel_group(const sentinel_group&) = delete;
  sentinel_group& operator=(const sentinel_group&) = delete;

  void start();
  // Asks every sentinel for the master; `done` runs once, with the first address named, or
  // errc::no_master with each sentinel's answer.
  void locate(located done);
  // `moved` runs for each +switch-master of this group's master, with the new address.
  std::uint64_t on_switch(switched moved);
  void forget(std::uint64_t listener);
  const std::string& name() const { return name_; }
  // Closes every sentinel connection; `closed` runs once all are closed.
  void close(std::function<void()> closed);

 private:
  void on_announcement(const push& message);

  std::string master_name_;
  std::string name_;  // the group's URL, for messages
  std::vector<std::unique_ptr<node>> queries_;
  std::vector<std::unique_ptr<node>> announcers_;
  std::map<std::uint64_t, switched> listeners_;
  std::uint64_t next_listener_ = 1;
};

// The address in a +switch-master message ("NAME old-ip old-port new-ip new-port") when it is
// about `master_name`.
std::optional<endpoint::address> parse_switch_master(const std::string& payload,
                                                     const std::string& master_name);

}  // namespace redlock::detail
