#include "startup.hpp"

#include <stdexcept>
#include <tuple>

namespace redlock::bench {

startup_floor_measurer::startup_floor_measurer(const std::vector<std::string>& urls)
    : measurer("startup", "hiredis-connect", 1) {
  std::tie(host_, port_) = host_port(urls.front());
}

void startup_floor_measurer::run_for(clock_type::duration slice) {
  auto until = clock_type::now() + slice;
  while (clock_type::now() < until) {
    std::string key = "startup-floor:" + std::to_string(next_++);
    auto start = clock_type::now();
    redisContext* c = redisConnect(host_.c_str(), port_);
    if (c == nullptr || c->err != 0) throw std::runtime_error("startup floor: cannot connect");
    auto* reply = static_cast<redisReply*>(redisCommand(c, "SET %s v NX PX 10000", key.c_str()));
    auto took = clock_type::now() - start;
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      error();
    } else {
      sample(took);
    }
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(c);
  }
}

startup_measurer::startup_measurer(const std::vector<std::string>& urls)
    : measurer("startup", "client", urls.size()),
      options_(client_options_for(urls)),
      prefix_("startup:" + std::to_string(urls.size()) + ":") {}

void startup_measurer::run_for(clock_type::duration slice) {
  auto until = clock_type::now() + slice;
  while (clock_type::now() < until) {
    std::string key = prefix_ + std::to_string(next_++);
    auto start = clock_type::now();
    auto made = redlock::client::create(options_);
    if (!made) throw std::runtime_error(made.message());
    // Requests wait for the nodes' handshakes: no retry budget needed.
    time_acquire_then_release(*made, key, start);
  }
}

}  // namespace redlock::bench
