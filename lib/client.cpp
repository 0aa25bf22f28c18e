#include "redlock/client.hpp"

#include <uv.h>

#include <optional>
#include <thread>

#include "blocking.hpp"
#include "loop.hpp"
#include "session.hpp"

namespace redlock {

// The client's own loop and its thread, which runs the loop while no caller does.
struct client::running {
  uv_loop_t loop;
  std::shared_ptr<detail::session> session;
  std::thread thread;

  ~running() {
    if (thread.joinable()) {
      // Closing runs on the loop; from now on only the client's thread takes the loop, and it
      // returns once every handle is closed.
      session->leadership().stop();
      session->post([s = session] { s->close(nullptr); });
      thread.join();
    }
    uv_loop_close(&loop);
  }
};

result<client> client::create(client_options options) {
  auto run = std::make_unique<running>();
  if (int rc = uv_loop_init(&run->loop); rc != 0) {
    return {errc::client_closed,
            std::string("cannot create the client's event loop: ") + uv_strerror(rc)};
  }
  auto made = detail::session::create(&run->loop, std::move(options),
                                      detail::session::loop_mode::own_thread);
  if (!made) return made.status();
  run->session = std::move(*made);
  // Whichever thread runs the loop first starts the connections, before any request.
  run->session->post([s = run->session.get()] { s->start(); });
  run->thread = std::thread([s = run->session.get()] { s->leadership().serve(); });
  return client(std::move(run));
}

client::client(std::unique_ptr<running> run) noexcept : run_(std::move(run)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

result<lease> client::acquire(std::string_view resource, const acquire_options& options) {
  return acquire_all({std::string(resource)}, options);
}

result<lease> client::acquire_all(std::vector<std::string> resources,
                                  const acquire_options& options) {
  if (!run_) return {errc::client_closed, "acquire on a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<lease>(s, "client::acquire_all", [&](auto done) {
    return s.acquire(std::move(resources), options, std::move(done));
  });
}

namespace {

// with_lock and with_lock_all, once the acquire (auto-extended) is done.
result<void> run_scoped(result<lease> held, const std::function<void(const lease&)>& work) {
  if (!held) return held.status();
  try {
    work(*held);
  } catch (...) {
    (void)held->release();
    throw;
  }
  std::optional<lease_lost> lost = held->lost_reason();
  bool expired = held->lost();
  std::vector<std::string> resources = held->resources();
  return detail::scoped_outcome(resources, lost, expired, held->release());
}

}  // namespace

result<void> client::with_lock(std::string_view resource, acquire_options options,
                               const std::function<void(const lease&)>& work) {
  return with_lock_all({std::string(resource)}, std::move(options), work);
}

result<void> client::with_lock_all(std::vector<std::string> resources, acquire_options options,
                                   const std::function<void(const lease&)>& work) {
  options.auto_extend.enabled = true;
  return run_scoped(acquire_all(std::move(resources), options), work);
}

result<lease> client::adopt(std::vector<std::string> resources, std::string token,
                            std::optional<std::uint64_t> fence) {
  if (!run_) return {errc::client_closed, "adopt on a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<lease>(s, "client::adopt", [&](auto done) {
    return s.adopt(std::move(resources), std::move(token), fence, std::move(done));
  });
}

result<std::vector<node_lock_state>> client::inspect(std::string_view resource) const {
  if (!run_) return {errc::client_closed, "inspect of a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<std::vector<node_lock_state>>(s, "client::inspect", [&](auto done) {
    return s.inspect(std::string(resource), std::move(done));
  });
}

const char* to_string(key_state state) noexcept {
  switch (state) {
    case key_state::free:
      return "free";
    case key_state::held:
      return "held";
    case key_state::unknown:
      return "unknown";
  }
  return "unknown";
}

result<void> client::wait_ready(std::chrono::milliseconds timeout) {
  if (!run_) return {errc::client_closed, "wait_ready on a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<void>(
      s, "client::wait_ready", [&](auto done) { return s.wait_ready(timeout, std::move(done)); });
}

result<std::vector<node_health>> client::health() const {
  if (!run_) return {errc::client_closed, "health of a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<std::vector<node_health>>(s, "client::health", [&](auto done) {
    done(s.health());
    return result<void>();
  });
}

result<client_metrics> client::metrics() const {
  if (!run_) return {errc::client_closed, "metrics of a moved-from client"};
  auto& s = *run_->session;
  return detail::run_blocking<client_metrics>(s, "client::metrics", [&](auto done) {
    done(s.metrics());
    return result<void>();
  });
}

}  // namespace redlock
