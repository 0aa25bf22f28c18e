#include "redlock/lease.hpp"

#include "blocking.hpp"
#include "session.hpp"

namespace redlock {

using detail::lease_state;

namespace {
const std::string empty_string;
const std::vector<std::string> no_resources;

// Sends the release without waiting for it; the lease is empty afterwards.
void release_in_background(std::shared_ptr<lease_state> state) {
  if (!state) return;
  auto owner = state->owner;
  owner->post([state = std::move(state)] { (void)state->owner->release(state, nullptr); });
}
}  // namespace

lease& lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release_in_background(std::move(state_));
    state_ = std::move(other.state_);
  }
  return *this;
}

lease::~lease() {
  release_in_background(std::move(state_));
}

const std::string& lease::resource() const noexcept {
  return state_ ? state_->lock->resources.front() : empty_string;
}

const std::vector<std::string>& lease::resources() const noexcept {
  return state_ ? state_->lock->resources : no_resources;
}

const std::string& lease::token() const noexcept {
  return state_ ? state_->lock->token : empty_string;
}

std::chrono::steady_clock::time_point lease::valid_until() const noexcept {
  return state_ ? state_->lock->valid_until() : std::chrono::steady_clock::time_point{};
}

std::chrono::steady_clock::duration lease::remaining() const noexcept {
  if (!state_) return {};
  auto left = state_->lock->valid_until() - state_->owner->clock().now();
  return left.count() > 0 ? left : std::chrono::steady_clock::duration::zero();
}

std::optional<std::uint64_t> lease::fence() const noexcept {
  return state_ ? state_->lock->fence : std::nullopt;
}

bool lease::lost() const noexcept {
  return !state_ || state_->lock->lost(state_->owner->clock().now());
}

std::optional<lease_lost> lease::lost_reason() const {
  if (!state_) return std::nullopt;
  return state_->lock->lost_reason();
}

bool lease::wait_lost(std::chrono::milliseconds timeout) const {
  if (!state_) return true;
  const detail::clock& time = state_->owner->clock();
  // On the client's own loop thread, waiting would stop the extensions it waits on.
  if (state_->owner->on_loop_thread()) return lost();
  return state_->lock->wait_lost(time, detail::saturating_add(time.now(), timeout));
}

const char* to_string(lease_lost::cause why) noexcept {
  switch (why) {
    case lease_lost::cause::refused:
      return "refused";
    case lease_lost::cause::margin_reached:
      return "margin_reached";
    case lease_lost::cause::max_hold_reached:
      return "max_hold_reached";
    case lease_lost::cause::client_closed:
      return "client_closed";
  }
  return "unknown";
}

result<void> lease::extend(std::chrono::milliseconds ttl) {
  if (!state_) return {errc::empty_lease, "extend of an empty lease (released or moved from)"};
  auto state = state_;
  return detail::run_blocking<void>(*state->owner, "lease::extend", [&](auto done) {
    return state->owner->extend(state, ttl, std::move(done));
  });
}

result<ownership> lease::check_ownership() const {
  if (!state_) return {errc::empty_lease, "check of an empty lease (released or moved from)"};
  auto state = state_;
  return detail::run_blocking<ownership>(*state->owner, "lease::check_ownership", [&](auto done) {
    return state->owner->check(state, std::move(done));
  });
}

result<void> lease::detach() {
  if (!state_) return {errc::empty_lease, "detach of an empty lease (released or moved from)"};
  auto state = state_;
  auto outcome = detail::run_blocking<void>(*state->owner, "lease::detach", [&](auto done) {
    return state->owner->detach(state, std::move(done));
  });
  if (outcome) state_.reset();
  return outcome;
}

result<void> lease::release() {
  if (!state_) return {errc::empty_lease, "release of an empty lease (released or moved from)"};
  auto state = std::move(state_);
  auto outcome = detail::run_blocking<void>(*state->owner, "lease::release", [&](auto done) {
    return state->owner->release(state, std::move(done));
  });
  // On the loop thread (would_deadlock) send it in the background, so the lock is not left.
  if (outcome.error() == errc::would_deadlock) release_in_background(std::move(state));
  return outcome;
}

}  // namespace redlock
