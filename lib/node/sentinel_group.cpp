#include "node/sentinel_group.hpp"

#include <sstream>
#include <utility>

#include "resp.hpp"

namespace redlock::detail {

namespace {

endpoint sentinel_endpoint(const endpoint& group, const endpoint::address& s,
                           const client_options& options) {
  endpoint e;
  e.host = s.host;
  e.port = s.port;
  e.tls = group.tls;
  e.user = options.sentinel_user;
  e.password = options.sentinel_password;
  e.has_password = !options.sentinel_password.empty();
  return e;
}

}  // namespace

sentinel_group::sentinel_group(uv_loop_t* loop, loop_services& services, const clock& clock,
                               const endpoint& group, const client_options& options,
                               std::shared_ptr<const tls_context> tls, std::uint64_t seed)
    : master_name_(group.master_name), name_(group.display()) {
  for (const endpoint::address& s : group.sentinels) {
    node_config query =
        node_config::from(sentinel_endpoint(group, s, options), options, seed++, tls);
    query.sentinel = true;
    query.quarantine = {};
    node_config announcer = query;
    announcer.seed = seed++;
    announcer.subscriber = true;
    queries_.push_back(std::make_unique<node>(loop, services, clock, std::move(query)));
    announcers_.push_back(std::make_unique<node>(loop, services, clock, std::move(announcer)));
  }
}

void sentinel_group::start() {
  for (auto& q : queries_)
    q->start();
  for (auto& a : announcers_) {
    a->on_push({[this](const push& message) { on_announcement(message); }, nullptr, nullptr});
    (void)a->subscribe(subscription::channel("+switch-master"));
    a->start();
  }
}

void sentinel_group::locate(located done) {
  struct asking {
    located done;
    std::size_t waiting = 0;
    std::string answers;
  };
  auto state = std::make_shared<asking>();
  state->done = std::move(done);
  state->waiting = queries_.size();
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command({"SENTINEL", "get-master-addr-by-name", master_name_});
  for (auto& q : queries_) {
    q->send(
        cmd,
        [state, who = q->name(), master = master_name_](node_answer a) {
          --state->waiting;
          if (!state->done) return;  // another sentinel answered first
          std::string said;
          const reply& r = a.value;
          if (a.error) {
            said = a.detail.empty() ? a.error.message() : a.detail;
          } else if (r.kind == reply::type::array && r.elements.size() == 2 &&
                     r.elements[0].kind == reply::type::string &&
                     r.elements[1].kind == reply::type::string) {
            char* end = nullptr;
            long port = std::strtol(r.elements[1].text.c_str(), &end, 10);
            if (!r.elements[0].text.empty() && end != r.elements[1].text.c_str() && *end == '\0' &&
                port > 0 && port <= 65535) {
              auto told = std::move(state->done);
              state->done = nullptr;
              told(endpoint::address{r.elements[0].text, static_cast<std::uint16_t>(port)});
              return;
            }
            said = "answered " + r.describe();
          } else if (r.kind == reply::type::nil || r.kind == reply::type::array) {
            said = "knows no master named '" + master + "'";
          } else {
            said = r.is_error() ? r.text : "answered " + r.describe();
          }
          if (!state->answers.empty()) state->answers += "; ";
          state->answers += who + ": " + said;
          if (state->waiting == 0) {
            auto told = std::move(state->done);
            state->done = nullptr;
            told({errc::no_master,
                  "no sentinel named a master for '" + master + "' (" + state->answers + ")"});
          }
        },
        std::chrono::nanoseconds(0));
  }
}

std::optional<endpoint::address> parse_switch_master(const std::string& payload,
                                                     const std::string& master_name) {
  std::istringstream words(payload);
  std::string name, old_host, old_port, host;
  long port = 0;
  if (!(words >> name >> old_host >> old_port >> host >> port) || name != master_name ||
      port <= 0 || port > 65535)
    return std::nullopt;
  return endpoint::address{host, static_cast<std::uint16_t>(port)};
}

void sentinel_group::on_announcement(const push& message) {
  std::optional<endpoint::address> moved = parse_switch_master(message.payload, master_name_);
  if (!moved) return;
  auto listeners = listeners_;  // a listener may forget itself
  for (auto& [id, moved_to] : listeners)
    moved_to(*moved);
}

std::uint64_t sentinel_group::on_switch(switched moved) {
  listeners_.emplace(next_listener_, std::move(moved));
  return next_listener_++;
}

void sentinel_group::forget(std::uint64_t listener) {
  listeners_.erase(listener);
}

void sentinel_group::close(std::function<void()> closed) {
  listeners_.clear();
  close_barrier barrier(std::move(closed));
  auto last = barrier.expect();  // closed runs even with no sentinel
  for (auto& q : queries_)
    q->close(barrier.expect());
  for (auto& a : announcers_)
    a->close(barrier.expect());
  last();
}

}  // namespace redlock::detail
