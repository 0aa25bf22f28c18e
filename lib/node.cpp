#include "node.hpp"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "loop.hpp"
#include "resp.hpp"

namespace redlock::detail {

using std::chrono::duration_cast;
using std::chrono::microseconds;

struct node::pending {
  std::shared_ptr<const command> cmd;  // null for handshake steps
  answer_callback done;                // empty for handshake steps
  steady::time_point sent_at;
  steady::time_point deadline;
  step kind = step::user;
  bool eval_sent = false;  // the EVAL fallback after NOSCRIPT has been sent
};

// Our libuv glue for one hiredis context (the stock 0.14.1 adapter ignores poll errors, so a
// refused or reset connection would never be noticed).
//
// It is also built to spend few system calls: uv_poll_start costs an epoll_ctl pair even
// when nothing changes, so the poll is touched only when the wanted events change; and a
// command written while connected does not ask for POLLOUT at all: the session writes the
// output buffer just before the loop next waits (loop_services::write_soon), so every command
// of a tick leaves in one write(). Only a partial write (a full socket buffer) or a connect in
// progress polls for POLLOUT. Freed in its handle's close callback.
struct node::glue {
  uv_poll_t poll;
  redisAsyncContext* ac = nullptr;  // null once hiredis freed the context
  node* owner = nullptr;
  int events = 0;  // what hiredis wants polled
  int armed = 0;   // what the poll handle is started with
  bool in_write = false;

  void update() {
    if (events == armed) return;
    armed = events;
    if (events != 0) {
      uv_poll_start(&poll, events, on_poll);
    } else {
      uv_poll_stop(&poll);
    }
  }
  // The caller holds a sigpipe_guard.
  void write_now() {
    in_write = true;
    redisAsyncHandleWrite(ac);
    in_write = false;
  }
  static void write_queued(void* data) {
    auto* g = static_cast<glue*>(data);
    if (g->ac != nullptr) g->write_now();
  }

  static void on_poll(uv_poll_t* handle, int status, int events) {
    auto* g = static_cast<glue*>(handle->data);
    // libuv reports a socket error as a negative status with no events (UV_EBADF in 1.44)
    // and stops the handle. Let hiredis read or write anyway: it finds the error, fails the
    // callbacks and frees the context.
    if (status < 0) g->armed = 0;
    int ev = status < 0 ? g->events : events;
    if (g->ac != nullptr && (ev & UV_READABLE) != 0) redisAsyncHandleRead(g->ac);
    if (g->ac != nullptr && (ev & UV_WRITABLE) != 0) {
      sigpipe_guard guard;
      g->write_now();
      if (g->ac == nullptr) guard.broke();
    }
    if (g->ac != nullptr) g->update();  // re-arms after an error stopped the handle
  }
  static void want(void* data, int event, bool on) {
    auto* g = static_cast<glue*>(data);
    g->events = on ? (g->events | event) : (g->events & ~event);
    g->update();
  }
  static void add_read(void* data) { want(data, UV_READABLE, true); }
  static void del_read(void* data) { want(data, UV_READABLE, false); }
  static void del_write(void* data) { want(data, UV_WRITABLE, false); }
  static void add_write(void* data) {
    auto* g = static_cast<glue*>(data);
    if ((g->ac->c.flags & REDIS_CONNECTED) != 0 && !g->in_write) {
      g->owner->services_.write_soon(write_queued, g);
      return;
    }
    want(data, UV_WRITABLE, true);  // connecting, or the socket buffer is full
  }
  // hiredis is freeing the context (after failing every pending callback): stop polling
  // before it closes the socket, and tell the node.
  static void cleanup(void* data) {
    auto* g = static_cast<glue*>(data);
    std::string why = g->ac->err != 0 ? g->ac->errstr : "";
    g->ac = nullptr;
    g->owner->services_.cancel_write(g);
    uv_close(reinterpret_cast<uv_handle_t*>(&g->poll),
             [](uv_handle_t* handle) { delete static_cast<glue*>(handle->data); });
    g->owner->context_gone(std::move(why));
  }
};

// A host-name lookup in libuv's thread pool. It cannot be called off once started, so an
// abandoned lookup (connect timeout, close) just forgets its node and frees itself.
struct node::resolve_request {
  uv_getaddrinfo_t req;
  node* owner = nullptr;
};

node_config node_config::from(endpoint where, const client_options& options, std::uint64_t seed) {
  return {std::move(where),      options.node_timeout,  options.connect_timeout,
          options.reconnect_min, options.reconnect_max, seed};
}

node::node(uv_loop_t* loop, loop_services& services, const clock& clock, node_config config)
    : loop_(loop),
      services_(services),
      clock_(clock),
      config_(std::move(config)),
      name_(config_.where.display()),
      rng_(config_.seed) {
  uv_timer_init(loop_, &deadline_timer_);
  uv_timer_init(loop_, &backoff_timer_);
  deadline_timer_.data = this;
  backoff_timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_timer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&backoff_timer_));
}

node::~node() = default;

void node::start() {
  connect();
}

// ---- connecting ---------------------------------------------------------------------------

void node::connect() {
  state_ = link_state::connecting;
  connect_deadline_ = clock_.now() + config_.connect_timeout;
  rearm_deadline();
  const endpoint& e = config_.where;
  if (e.kind == endpoint::transport::unix_socket || e.host_is_literal()) {
    open(e.host);
  } else {
    resolve();
  }
}

void node::resolve() {
  auto* request = new resolve_request;
  request->owner = this;
  request->req.data = request;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(loop_, &request->req, on_resolved, config_.where.host.c_str(), nullptr,
                          &hints);
  if (rc != 0) {
    delete request;
    attempt_failed(errc::resolve_failed,
                   "cannot resolve '" + config_.where.host + "': " + uv_strerror(rc));
    return;
  }
  resolving_ = request;
}

void node::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* request = static_cast<resolve_request*>(req->data);
  node* self = request->owner;
  std::string address;
  if (status == 0 && res != nullptr) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (res->ai_family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr;
    } else {
      raw = &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr;
    }
    if (inet_ntop(res->ai_family, raw, text, sizeof text) != nullptr) address = text;
  }
  uv_freeaddrinfo(res);
  delete request;
  if (self == nullptr) return;  // abandoned: connect timeout or close
  self->resolving_ = nullptr;
  if (address.empty()) {
    self->attempt_failed(errc::resolve_failed,
                         "cannot resolve '" + self->config_.where.host +
                             "': " + (status < 0 ? uv_strerror(status) : "no address"));
    return;
  }
  self->open(address);
}

void node::open(const std::string& address) {
  const endpoint& e = config_.where;
  redisAsyncContext* ac = e.kind == endpoint::transport::unix_socket
                              ? redisAsyncConnectUnix(e.path.c_str())
                              : redisAsyncConnect(address.c_str(), e.port);
  if (ac == nullptr) {
    attempt_failed(errc::node_down, "out of memory creating a connection");
    return;
  }
  if (ac->err != 0) {  // failed at once, e.g. ECONNREFUSED on loopback
    std::string why = ac->errstr;
    redisAsyncFree(ac);  // never connected and no hooks attached: a plain free
    attempt_failed(errc::node_down, why);
    return;
  }
  auto* g = new glue;
  g->ac = ac;
  g->owner = this;
  g->poll.data = g;
  if (int rc = uv_poll_init_socket(loop_, &g->poll, ac->c.fd); rc != 0) {
    delete g;
    redisAsyncFree(ac);
    attempt_failed(errc::node_down, std::string("cannot watch the socket: ") + uv_strerror(rc));
    return;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&g->poll));
  // The event hooks go on before the connect callback: setting it asks for a write event.
  ac->data = this;
  ac->ev.data = g;
  ac->ev.addRead = glue::add_read;
  ac->ev.delRead = glue::del_read;
  ac->ev.addWrite = glue::add_write;
  ac->ev.delWrite = glue::del_write;
  ac->ev.cleanup = glue::cleanup;
  ac_ = ac;
  context_dying_ = false;
  redisAsyncSetConnectCallback(ac, on_connect);

  // The handshake is pipelined behind the connect; requests wait in the backlog until the
  // PING answers, so an AUTH failure is reported as such and not as NOAUTH on every request.
  auto handshake = [this](step s, const std::string& wire) {
    pending p;
    p.kind = s;
    p.sent_at = clock_.now();
    p.deadline = connect_deadline_;
    if (issue_wire(wire)) inflight_.push_back(std::move(p));
  };
  if (e.has_password || !e.user.empty()) {
    handshake(step::auth, e.user.empty() ? encode_command({"AUTH", e.password})
                                         : encode_command({"AUTH", e.user, e.password}));
  }
  if (e.db != 0) handshake(step::select, encode_command({"SELECT", std::to_string(e.db)}));
  handshake(step::ping, encode_command({"PING"}));
  // Who the server is: one server must not vote twice under two endpoints (run_id), and a
  // server that restarted recently can be told (uptime).
  handshake(step::info, encode_command({"INFO", "server"}));
}

void node::on_connect(const redisAsyncContext* ac, int status) {
  if (status == REDIS_OK) return;  // the handshake replies take it from here
  // hiredis fails the handshake callbacks and frees the context right after this returns.
  auto* self = static_cast<node*>(ac->data);
  self->drop_error_ = errc::node_down;
  self->drop_detail_ = ac->errstr;
}

void node::handshake_reply(step s, const reply& value) {
  const char* what = s == step::auth     ? "AUTH"
                     : s == step::select ? "SELECT"
                     : s == step::ping   ? "PING"
                                         : "INFO";
  if (value.is_error()) {
    drop(refuses_configuration(value.text) ? errc::config_refused : errc::handshake_failed,
         std::string(what) + " refused: " + value.text);
    return;
  }
  if (s == step::ping && !value.is_status("PONG")) {
    drop(errc::unexpected_reply, "PING answered " + value.describe());
    return;
  }
  if (s != step::info) return;
  if (value.kind != reply::type::string) {
    drop(errc::unexpected_reply, "INFO server answered " + value.describe());
    return;
  }
  become_ready(parse_server_info(value.text));
}

void node::changed() {
  if (change_listener_) services_.defer(change_listener_);
}

void node::become_ready(server_info server) {
  state_ = link_state::ready;
  status_.ready = true;
  status_.server = std::make_shared<const server_info>(std::move(server));
  consecutive_failures_ = 0;
  if (connected_once_) ++reconnects_;
  connected_once_ = true;
  rearm_deadline();
  auto backlog = std::move(backlog_);
  backlog_.clear();
  for (auto& p : backlog)
    issue(std::move(p));
  changed();
}

void node::attempt_failed(std::error_code code, std::string detail) {
  ever_failed_ = true;
  status_.ready = false;
  status_.server = nullptr;
  status_.last_error = code;
  status_.last_detail = std::move(detail);
  state_ = link_state::down;
  fail_backlog(status_.last_error, status_.last_detail);
  if (closing_) {
    handle_closed();
    return;
  }
  schedule_reconnect();
  changed();
}

// ---- dropping a connection ----------------------------------------------------------------

// Frees the context: hiredis then fails every pending callback (with our reason) and calls
// the cleanup hook, which lands in context_gone(). Inside a reply callback hiredis defers the
// free until the callback returns.
void node::drop(std::error_code code, std::string detail) {
  if (ac_ == nullptr || context_dying_) return;
  context_dying_ = true;
  drop_error_ = code;
  drop_detail_ = std::move(detail);
  redisAsyncFree(ac_);
}

void node::context_gone(std::string hiredis_error) {
  ac_ = nullptr;
  context_dying_ = false;
  // Every pending callback has run by now; anything left would be a hiredis bug.
  inflight_.clear();
  std::error_code code = make_error_code(errc::node_down);
  std::string why;
  if (drop_error_) {  // we (or a failed connect) ended it
    if (drop_error_ == errc::handshake_failed || drop_error_ == errc::config_refused ||
        drop_error_ == errc::unexpected_reply)
      code = drop_error_;
    why = drop_detail_;
  } else {  // the server closed it or the socket broke
    why = hiredis_error.empty() ? "connection closed" : hiredis_error;
  }
  drop_error_ = {};
  drop_detail_.clear();
  attempt_failed(code, why);
}

void node::schedule_reconnect() {
  // Exponential backoff with jitter: the cap doubles from reconnect_min to reconnect_max,
  // and the wait is uniform in [cap/2, cap], so a fleet of clients does not reconnect in step.
  unsigned doublings = std::min(consecutive_failures_, 30u);
  ++consecutive_failures_;
  auto cap = config_.reconnect_min * (std::int64_t{1} << doublings);
  if (cap > config_.reconnect_max || cap.count() <= 0) cap = config_.reconnect_max;
  std::uniform_int_distribution<std::int64_t> pick(cap.count() / 2, cap.count());
  uv_timer_start(
      &backoff_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<node*>(t->data);
        if (!self->closing_) self->connect();
      },
      static_cast<std::uint64_t>(pick(rng_)), 0);
}

// ---- requests -----------------------------------------------------------------------------

void node::send(std::shared_ptr<const command> cmd, answer_callback done) {
  steady::time_point now = clock_.now();
  pending p;
  p.cmd = std::move(cmd);
  p.done = std::move(done);
  p.sent_at = now;
  p.deadline = now + config_.node_timeout;
  if (state_ == link_state::ready && ac_ != nullptr && !context_dying_) {
    issue(std::move(p));
  } else if (state_ == link_state::connecting && !closing_ && !ever_failed_) {
    // The first connect: a request made right after the client was created waits for it.
    backlog_.push_back(std::move(p));
    arm_deadline();
  } else {
    fail_soon(std::move(p.done), status_.last_error ? status_.last_error : errc::node_down,
              status_.last_detail.empty() ? "not connected" : status_.last_detail, false);
  }
}

bool node::issue_wire(const std::string& wire) {
  return redisAsyncFormattedCommand(ac_, on_reply, this, wire.data(), wire.size()) == REDIS_OK;
}

void node::issue(pending p) {
  bool written = ac_ != nullptr && !context_dying_ &&
                 (p.eval_sent ? issue_wire(eval_wire(*p.cmd)) : issue_wire(p.cmd->wire));
  if (!written) {
    fail_soon(std::move(p.done), errc::connection_lost, "the connection is closing", false);
    return;
  }
  if (!p.eval_sent) ++requests_;
  inflight_.push_back(std::move(p));
  arm_deadline();
}

void node::fail_soon(answer_callback done, std::error_code code, std::string detail,
                     bool maybe_ran) {
  services_.defer([done = std::move(done), code, detail = std::move(detail), maybe_ran] {
    node_answer a;
    a.error = code;
    a.detail = detail;
    a.maybe_ran = maybe_ran;
    done(std::move(a));
  });
}

void node::fail_backlog(std::error_code code, const std::string& detail) {
  auto backlog = std::move(backlog_);
  backlog_.clear();
  for (auto& p : backlog)
    fail_soon(std::move(p.done), code, detail, false);
}

void node::on_reply(redisAsyncContext* ac, void* raw, void* privdata) {
  auto* self = static_cast<node*>(privdata);
  if (self->inflight_.empty()) return;  // cannot happen: one entry per command we wrote
  pending p = std::move(self->inflight_.front());
  self->inflight_.pop_front();
  steady::time_point now = self->clock_.now();
  auto latency = duration_cast<microseconds>(now - p.sent_at);

  if (raw == nullptr) {  // hiredis is freeing the context: the request may or may not have run
    self->context_dying_ = true;
    if (p.kind != step::user) return;
    ++self->failures_;
    node_answer a;
    a.error = self->drop_error_ ? self->drop_error_ : make_error_code(errc::connection_lost);
    a.detail = !self->drop_detail_.empty() ? self->drop_detail_
               : ac->err != 0              ? std::string(ac->errstr)
                                           : "connection closed";
    a.latency = latency;
    p.done(std::move(a));
    return;
  }
  reply value = decode_reply(static_cast<const redisReply*>(raw));
  if (p.kind != step::user) {
    self->handshake_reply(p.kind, value);
    return;
  }
  // An empty script cache (restart, SCRIPT FLUSH): send the script itself, once.
  if (value.is_error() && value.text.compare(0, 8, "NOSCRIPT") == 0 && !p.eval_sent &&
      !p.cmd->script_source.empty() && !self->context_dying_) {
    p.eval_sent = true;
    p.deadline = now + self->config_.node_timeout;
    self->issue(std::move(p));
    return;
  }
  self->record_latency(latency);
  node_answer a;
  a.value = std::move(value);
  a.latency = latency;
  a.server = self->status_.server;
  p.done(std::move(a));
}

void node::record_latency(std::chrono::microseconds latency) {
  constexpr std::size_t kept = 1024;
  auto us = static_cast<std::uint32_t>(
      std::min<std::chrono::microseconds::rep>(latency.count(), UINT32_MAX));
  if (latencies_.size() < kept) {
    latencies_.push_back(us);
  } else {
    latencies_[next_latency_] = us;
    next_latency_ = (next_latency_ + 1) % kept;
  }
}

node_health node::health() const {
  node_health h;
  h.endpoint = name_;
  h.state = state_ == link_state::ready        ? node_state::connected
            : state_ == link_state::connecting ? node_state::connecting
                                               : node_state::down;
  h.last_error = status_.last_detail;
  if (status_.server) {
    h.run_id = status_.server->run_id;
    h.redis_version = status_.server->redis_version;
    h.uptime = status_.server->uptime;
  }
  h.reconnects = reconnects_;
  h.requests = requests_;
  h.failures = failures_;
  if (!latencies_.empty()) {
    std::vector<std::uint32_t> sorted = latencies_;
    std::sort(sorted.begin(), sorted.end());
    auto at = [&](double q) {
      return std::chrono::microseconds(
          sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))]);
    };
    h.latency_p50 = at(0.5);
    h.latency_p99 = at(0.99);
    h.latency_max = std::chrono::microseconds(sorted.back());
  }
  return h;
}

// ---- deadlines ----------------------------------------------------------------------------

void node::arm_deadline() {
  if (deadline_armed_ || closing_) return;
  steady::time_point next = steady::time_point::max();
  if (state_ == link_state::connecting) next = connect_deadline_;
  if (!backlog_.empty()) next = std::min(next, backlog_.front().deadline);
  if (!inflight_.empty()) next = std::min(next, inflight_.front().deadline);
  if (next == steady::time_point::max()) return;
  deadline_armed_ = true;
  uv_timer_start(
      &deadline_timer_, [](uv_timer_t* t) { static_cast<node*>(t->data)->on_deadline(); },
      timer_delay_ms(next - clock_.now()), 0);
}

void node::rearm_deadline() {
  uv_timer_stop(&deadline_timer_);
  deadline_armed_ = false;
  arm_deadline();
}

void node::on_deadline() {
  deadline_armed_ = false;
  steady::time_point now = clock_.now();
  // Requests still waiting for the handshake were never written: they fail alone.
  while (!backlog_.empty() && backlog_.front().deadline <= now) {
    fail_soon(std::move(backlog_.front().done), errc::node_timeout,
              "still connecting after " + ms_text(config_.node_timeout), false);
    backlog_.pop_front();
  }
  if (state_ == link_state::connecting && now >= connect_deadline_) {
    std::string why = "connect timed out after " + ms_text(config_.connect_timeout);
    if (ac_ != nullptr) {
      drop(errc::node_timeout, why);
    } else {
      if (resolving_ != nullptr) resolving_->owner = nullptr;
      resolving_ = nullptr;
      attempt_failed(errc::node_down, why);
    }
  } else if (!inflight_.empty() && inflight_.front().deadline <= now) {
    // Recycle the connection: freeing it fails this request and everything behind it;
    // late replies can no longer arrive.
    drop(errc::node_timeout, "no reply within " + ms_text(config_.node_timeout));
  }
  arm_deadline();
}

// ---- closing ------------------------------------------------------------------------------

void node::close(std::function<void()> closed) {
  closing_ = true;
  on_closed_ = std::move(closed);
  uv_timer_stop(&deadline_timer_);
  uv_timer_stop(&backoff_timer_);
  if (resolving_ != nullptr) {
    resolving_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolving_->req));
    resolving_ = nullptr;
  }
  fail_backlog(errc::client_closed, "the client is closing");
  auto on_timer_closed = [](uv_handle_t* h) {
    auto* self = static_cast<node*>(h->data);
    --self->open_handles_;
    self->handle_closed();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), on_timer_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&backoff_timer_), on_timer_closed);
  if (ac_ != nullptr) {
    drop(errc::client_closed, "the client is closing");
  } else {
    handle_closed();
  }
}

void node::handle_closed() {
  if (!closing_ || open_handles_ > 0 || ac_ != nullptr || !on_closed_) return;
  auto closed = std::move(on_closed_);
  on_closed_ = nullptr;
  closed();
}

}  // namespace redlock::detail
