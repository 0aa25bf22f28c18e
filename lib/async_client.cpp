#include "redlock/async_client.hpp"

#include "session.hpp"

namespace redlock {
namespace {
result<void> foreign_lease(const char* what) {
  return {errc::invalid_option,
          std::string("invalid option lease: ") + what + " of a lease that another client granted"};
}
}  // namespace

result<async_client> async_client::create(uv_loop_t* loop, client_options options) {
  auto made =
      detail::session::create(loop, std::move(options), detail::session::loop_mode::caller_loop);
  if (!made) return made.status();
  (*made)->start();
  return async_client(std::move(*made));
}

async_client::async_client(std::shared_ptr<detail::session> session) noexcept
    : session_(std::move(session)) {}
async_client::async_client(async_client&&) noexcept = default;

async_client& async_client::operator=(async_client&& other) noexcept {
  if (this != &other) {
    if (session_) session_->close(nullptr);
    session_ = std::move(other.session_);
  }
  return *this;
}

async_client::~async_client() {
  if (session_) session_->close(nullptr);
}

result<void> async_client::acquire(std::string_view resource, const acquire_options& options,
                                   acquire_callback done) {
  return acquire_all({std::string(resource)}, options, std::move(done));
}

result<void> async_client::acquire_all(std::vector<std::string> resources,
                                       const acquire_options& options, acquire_callback done) {
  if (!session_) return {errc::client_closed, "acquire on a moved-from async_client"};
  return session_->acquire(std::move(resources), options, std::move(done));
}

result<void> async_client::wait_ready(std::chrono::milliseconds timeout, done_callback done) {
  if (!session_) return {errc::client_closed, "wait_ready on a moved-from async_client"};
  return session_->wait_ready(timeout, std::move(done));
}

result<std::vector<node_health>> async_client::health() const {
  if (!session_) return {errc::client_closed, "health of a moved-from async_client"};
  return session_->health();
}

result<client_metrics> async_client::metrics() const {
  if (!session_) return {errc::client_closed, "metrics of a moved-from async_client"};
  return session_->metrics();
}

result<void> async_client::extend(lease& held, std::chrono::milliseconds ttl, done_callback done) {
  const auto& state = detail::lease_access::peek(held);
  if (!state) return {errc::empty_lease, "extend of an empty lease (released or moved from)"};
  if (state->owner != session_) return foreign_lease("extend");
  return state->owner->extend(state, ttl, std::move(done));
}

result<void> async_client::with_lock(std::string_view resource, acquire_options options,
                                     scoped_work work, done_callback done) {
  return with_lock_all({std::string(resource)}, std::move(options), std::move(work),
                       std::move(done));
}

result<void> async_client::with_lock_all(std::vector<std::string> resources,
                                         acquire_options options, scoped_work work,
                                         done_callback done) {
  if (!session_) return {errc::client_closed, "with_lock on a moved-from async_client"};
  options.auto_extend.enabled = true;
  return session_->acquire(
      std::move(resources), options,
      [session = session_, work = std::move(work), done = std::move(done)](result<lease> granted) {
        if (!granted) {
          done(std::move(granted).status());
          return;
        }
        auto held = std::make_shared<lease>(std::move(*granted));
        auto finished = [session, held, done]() {
          if (!*held) return;  // called twice
          std::vector<std::string> name = held->resources();
          std::optional<lease_lost> lost = held->lost_reason();
          bool expired = held->lost();
          auto state = detail::lease_access::take(*held);
          result<void> started = session->release(
              state, [name = std::move(name), lost, expired, done](result<void> released) {
                done(detail::scoped_outcome(name, lost, expired, std::move(released)));
              });
          if (!started) done(std::move(started));
        };
        work(*held, std::move(finished));
      });
}

result<void> async_client::check_ownership(const lease& held,
                                           std::function<void(result<ownership>)> done) {
  const auto& state = detail::lease_access::peek(held);
  if (!state) return {errc::empty_lease, "check of an empty lease (released or moved from)"};
  if (state->owner != session_) return foreign_lease("check_ownership");
  return state->owner->check(state, std::move(done));
}

result<void> async_client::release(lease held, done_callback done) {
  if (!detail::lease_access::peek(held)) {
    return {errc::empty_lease, "release of an empty lease (released or moved from)"};
  }
  if (detail::lease_access::peek(held)->owner != session_) return foreign_lease("release");
  auto state = detail::lease_access::take(held);
  return state->owner->release(state, std::move(done));
}

}  // namespace redlock
