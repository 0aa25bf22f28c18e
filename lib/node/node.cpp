#include "node/node.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "node/sentinel_group.hpp"
#include "quarantine.hpp"
#include "quorum.hpp"
#include "scripts.hpp"

namespace redlock::detail {

using std::chrono::duration_cast;
using std::chrono::microseconds;

node_config node_config::from(endpoint where, const client_options& options, std::uint64_t seed,
                              std::shared_ptr<const tls_context> tls) {
  node_config c;
  c.where = std::move(where);
  c.node_timeout = options.node_timeout;
  c.connect_timeout = options.connect_timeout;
  c.reconnect_min = options.reconnect_min;
  c.reconnect_max = options.reconnect_max;
  c.seed = seed;
  c.window = 512;
  c.tls = std::move(tls);
  c.acknowledged_replicas = options.replica_ack.replicas;
  if (options.quarantine.enabled) {
    c.quarantine = options.quarantine.max_ttl +
                   drift_allowance(options.quarantine.max_ttl, options.drift_factor);
  }
  return c;
}

// A host-name lookup in libuv's thread pool. It cannot be called off once started, so an
// abandoned lookup (connect timeout, close) just forgets its node and frees itself.
struct node::resolve_request {
  uv_getaddrinfo_t req;
  node* owner = nullptr;
};

node::node(uv_loop_t* loop, loop_services& services, const clock& clock, node_config config)
    : loop_(loop),
      services_(services),
      clock_(clock),
      config_(std::move(config)),
      name_(config_.where.display()),
      rng_(config_.seed),
      requests_(config_.window) {
  for (auto* timer : {&deadline_timer_, &backoff_timer_}) {
    timer->init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); });
    timer->get()->data = this;
    uv_unref(timer->raw());
  }
}

node::~node() = default;

void node::start() {
  if (config_.group) {
    switch_listener_ = config_.group->on_switch(
        [this](const endpoint::address& master) { master_switched(master); });
  }
  connect();
}

void node::changed() {
  if (change_listener_) services_.defer(change_listener_);
}

// ---- connecting ---------------------------------------------------------------------------

void node::connect() {
  state_ = state::connecting;
  ++attempts_;
  connect_deadline_ = clock_.now() + config_.connect_timeout;
  arm_deadline();
  if (config_.group) {
    locate_master();
    return;
  }
  connect_to_address();
}

// Asked again at every connect: after a failover the old master may be down, or back as a
// replica of the new one.
void node::locate_master() {
  auto attempt = std::make_shared<std::uint64_t>(attempts_);
  locating_ = attempt;
  std::weak_ptr<std::uint64_t> mine = attempt;
  config_.group->locate([this, mine](result<endpoint::address> master) {
    std::shared_ptr<std::uint64_t> asked = mine.lock();
    if (!asked || asked != locating_ || closing_ || state_ != state::connecting) return;
    locating_ = nullptr;
    if (!master) {
      attempt_failed(errc::no_master, master.message());
      return;
    }
    config_.where.host = master->host;
    config_.where.port = master->port;
    connect_to_address();
  });
}

// The sentinels moved the master: a connection to another server leaves it now (its requests
// in flight fail, each may have run), and the next connect asks the sentinels again.
void node::master_switched(const endpoint::address& master) {
  if (closing_) return;
  if (state_ == state::down) {
    // Waiting out the backoff after the old master failed: the sentinels name a new one now.
    // (Ignoring it cost up to reconnect_max per failover: docs/benchmarks.md, "Sentinel
    // groups".)
    uv_timer_stop(backoff_timer_.get());
    consecutive_failures_ = 0;
    connect();
    return;
  }
  if (state_ == state::ready && master.host == config_.where.host &&
      master.port == config_.where.port)
    return;
  // Asking the sentinels or resolving the master's name already: that attempt goes on.
  if (state_ == state::connecting && (locating_ != nullptr || resolving_ != nullptr)) return;
  consecutive_failures_ = 0;  // reconnect after the shortest backoff
  drop(errc::connection_lost, "the sentinels moved master '" + config_.where.master_name + "' to " +
                                  master.host + ":" + std::to_string(master.port));
}

void node::connect_to_address() {
  const endpoint& e = config_.where;
  if (e.kind == endpoint::transport::unix_socket) {
    open(nullptr);
    return;
  }
  if (!e.host_is_literal()) {
    resolve();
    return;
  }
  sockaddr_storage address{};
  auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (uv_ip4_addr(e.host.c_str(), e.port, in4) != 0 &&
      uv_ip6_addr(e.host.c_str(), e.port, in6) != 0) {
    attempt_failed(errc::resolve_failed, "'" + e.host + "' is not an IP address");
    return;
  }
  open(reinterpret_cast<const sockaddr*>(&address));
}

void node::resolve() {
  auto* request = new resolve_request;
  request->owner = this;
  request->req.data = request;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(config_.where.port);
  int rc = uv_getaddrinfo(
      loop_, &request->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* r = static_cast<resolve_request*>(req->data);
        node* self = r->owner;
        sockaddr_storage address{};
        bool found = status == 0 && res != nullptr && res->ai_addrlen <= sizeof address;
        if (found) std::memcpy(&address, res->ai_addr, res->ai_addrlen);
        uv_freeaddrinfo(res);
        delete r;
        if (self == nullptr) return;  // abandoned: connect timeout or close
        self->resolving_ = nullptr;
        if (!found) {
          self->attempt_failed(errc::resolve_failed,
                               "cannot resolve '" + self->config_.where.host +
                                   "': " + (status < 0 ? uv_strerror(status) : "no address"));
          return;
        }
        self->open(reinterpret_cast<const sockaddr*>(&address));
      },
      config_.where.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete request;
    attempt_failed(errc::resolve_failed,
                   "cannot resolve '" + config_.where.host + "': " + uv_strerror(rc));
    return;
  }
  resolving_ = request;
}

void node::open(const sockaddr* address) {
  reader_ = std::make_unique<reply_reader>();
  stream_ = stream::create(
      loop_, {[this] { on_connected(); }, [this](std::string_view bytes) { on_received(bytes); },
              [this](std::error_code code, std::string detail) {
                stream_ = nullptr;
                drop(code, std::move(detail));
              }});
  if (address == nullptr) {
    stream_->connect_unix(config_.where.path);
    return;
  }
  std::unique_ptr<tls_session> tls;
  if (config_.where.tls) {
    tls = std::make_unique<tls_session>(config_.tls, config_.where.host);
  }
  stream_->connect_tcp(address, std::move(tls));
}

void node::write_step(request_kind kind, const std::string& wire, steady::time_point deadline,
                      subscription topic) {
  pending_request r;
  r.kind = kind;
  r.topic = std::move(topic);
  r.sent_at = clock_.now();
  r.deadline = deadline;
  stream_->write(wire);
  requests_.written(std::move(r));
}

// The handshake is pipelined behind the connect; requests wait until it is done, so an AUTH
// failure is reported as such and not as NOAUTH on every request. Its steps leave in one write:
// one segment for the kernel to pass on, not ten.
void node::on_connected() {
  std::string steps;
  for (auto& [kind, wire] : handshake_steps()) {
    pending_request r;
    r.kind = kind;
    r.sent_at = clock_.now();
    r.deadline = connect_deadline_;
    requests_.written(std::move(r));
    steps += wire;
  }
  stream_->write(steps);
}

std::vector<std::pair<request_kind, std::string>> node::handshake_steps() const {
  const endpoint& e = config_.where;
  std::vector<std::pair<request_kind, std::string>> steps;
  if (e.has_password || !e.user.empty()) {
    steps.emplace_back(request_kind::auth, e.user.empty()
                                               ? encode_command({"AUTH", e.password})
                                               : encode_command({"AUTH", e.user, e.password}));
  }
  if (e.db != 0 && !config_.sentinel)
    steps.emplace_back(request_kind::select, encode_command({"SELECT", std::to_string(e.db)}));
  steps.emplace_back(request_kind::ping, encode_command({"PING"}));
  if (config_.sentinel) return steps;  // a sentinel has no db, INFO of interest or scripts
  // Who the server is: one server must not vote twice under two endpoints (run_id), a server
  // that restarted recently can be told (uptime), and so can settings that lose keys
  // (maxmemory_policy, role, cluster_enabled). INFO with no section: every version has it.
  steps.emplace_back(request_kind::info, encode_command({"INFO"}));
  // A fresh or restarted server would answer a burst of EVALSHA with NOSCRIPT and do the
  // work twice: load the scripts first. A subscriber runs no scripts.
  if (config_.subscriber) return steps;
  for (const script* s : {&acquire_script, &release_script, &extend_script, &extend_many_script,
                          &check_script, &acquire_fenced_script, &fence_write_script})
    steps.emplace_back(request_kind::script_load, encode_command({"SCRIPT", "LOAD", s->source}));
  return steps;
}

void node::on_received(std::string_view bytes) {
  if (config_.subscriber) last_heard_ = clock_.now();
  if (!reader_->feed(bytes)) {
    drop(errc::unexpected_reply, reader_->error());
    return;
  }
  while (stream_ != nullptr) {  // a reply may end the connection
    std::optional<reply> value = reader_->next();
    if (!value) {
      if (reader_->failed()) drop(errc::unexpected_reply, reader_->error());
      return;
    }
    on_reply(std::move(*value));
  }
}

void node::on_reply(reply value) {
  if (subscribed_mode_ready()) {
    on_push_reply(value);
    return;
  }
  std::optional<pending_request> owner = requests_.take_oldest();
  if (!owner) {
    drop(errc::unexpected_reply, "a reply nobody asked for: " + value.describe());
    return;
  }
  pending_request& p = *owner;
  steady::time_point now = clock_.now();
  if (p.kind != request_kind::user) {
    handshake_reply(p.kind, value);
    arm_deadline();
    return;
  }
  // An empty script cache (SCRIPT FLUSH since the handshake): send the script itself, once.
  if (value.is_error() && value.text.compare(0, 8, "NOSCRIPT") == 0 && !p.eval_sent &&
      !p.cmd->script_source.empty()) {
    p.eval_sent = true;
    p.sent_at = now;
    p.deadline = now + config_.node_timeout;
    stream_->write(eval_wire(*p.cmd));
    requests_.written(std::move(p));
    arm_deadline();
    return;
  }
  auto latency = duration_cast<microseconds>(now - p.sent_at);
  latencies_.record(latency);
  node_answer a;
  a.value = std::move(value);
  a.latency = latency;
  a.server = status_.server;
  p.done(std::move(a));
  flush_soon();  // the window has room again
  arm_deadline();
}

void node::handshake_reply(request_kind kind, const reply& value) {
  const char* what = kind == request_kind::auth     ? "AUTH"
                     : kind == request_kind::select ? "SELECT"
                     : kind == request_kind::ping   ? "PING"
                     : kind == request_kind::info   ? "INFO"
                                                    : "SCRIPT LOAD";
  if (value.is_error() && kind == request_kind::script_load) {
    // Loading the scripts saves work but is not needed (an ACL may not allow SCRIPT): the
    // EVAL fallback after NOSCRIPT still works.
  } else if (value.is_error()) {
    drop(refuses_configuration(value.text) ? errc::config_refused : errc::handshake_failed,
         std::string(what) + " refused: " + value.text);
    return;
  } else {
    switch (kind) {
      case request_kind::ping:
        if (!value.is_status("PONG")) {
          drop(errc::unexpected_reply, "PING answered " + value.describe());
          return;
        }
        break;
      case request_kind::info:
        if (value.kind != reply::type::string) {
          drop(errc::unexpected_reply, "INFO answered " + value.describe());
          return;
        }
        status_.server = learned_server(value.text);
        if (config_.group && status_.server->role != "master") {
          // The sentinels named a server that is not the master (yet, or any more).
          drop(errc::no_master, "the sentinels named " + config_.where.host + ":" +
                                    std::to_string(config_.where.port) + " for '" +
                                    config_.where.master_name +
                                    "', but it is role:" + status_.server->role + ", not master");
          return;
        }
        note_server();
        break;
      case request_kind::script_load:
        if (value.kind != reply::type::string) {
          drop(errc::unexpected_reply, "SCRIPT LOAD answered " + value.describe());
          return;
        }
        break;
      default:
        break;
    }
  }
  // Ready once every handshake reply is in (the last step is SCRIPT LOAD, INFO for a
  // subscriber, PING for a sentinel).
  if (requests_.in_flight() == 0) become_ready();
}

std::shared_ptr<const server_info> node::learned_server(std::string_view info) const {
  server_info learned = parse_server_info(info);
  learned.promotable = config_.group != nullptr;
  return std::make_shared<const server_info>(std::move(learned));
}

// The handshake's INFO told who the server is: until when it may not vote, if it (re)started
// recently or is not the server this endpoint reached before.
void node::note_server() {
  if (config_.quarantine.count() > 0) {
    // A replica promoted by the sentinels holds every key its old master's votes counted when
    // each vote waited for all of that master's replicas (docs/safety.md, "Sentinel groups").
    bool promotion_kept_keys = config_.group != nullptr && config_.acknowledged_replicas > 0 &&
                               last_replicas_ <= config_.acknowledged_replicas;
    quarantine q = quarantine_after_handshake(
        *status_.server, last_run_id_, clock_.now(), config_.quarantine,
        {status_.quarantined_until, status_.quarantine_reason}, promotion_kept_keys);
    status_.quarantined_until = q.until;
    status_.quarantine_reason = std::move(q.reason);
  }
  last_run_id_ = status_.server->run_id;
  last_replicas_ = status_.server->replicas;
}

void node::become_ready() {
  state_ = state::ready;
  status_.ready = true;
  consecutive_failures_ = 0;
  if (connected_once_) ++reconnects_;
  connected_once_ = true;
  if (config_.subscriber) {
    last_heard_ = clock_.now();
    for (const subscription& s : subscriptions_.wanted())
      write_subscription(request_kind::subscribe, s);
  }
  flush_soon();
  arm_deadline();
  changed();
}

// ---- subscriber mode ----------------------------------------------------------------------

result<void> node::refuse_unless_subscriber(const char* what) const {
  if (config_.subscriber) return {};
  return {errc::invalid_option,
          std::string(what) + " on " + name_ + ": not a subscriber connection"};
}

result<void> node::subscribe(const subscription& s) {
  result<void> refused = refuse_unless_subscriber("subscribe");
  if (!refused) return refused;
  subscriptions_.want(s);
  if (subscribed_mode_ready()) write_subscription(request_kind::subscribe, s);
  return {};
}

result<void> node::unsubscribe(const subscription& s) {
  result<void> refused = refuse_unless_subscriber("unsubscribe");
  if (!refused) return refused;
  if (subscriptions_.unwant(s) && subscribed_mode_ready())
    write_subscription(request_kind::unsubscribe, s);
  return {};
}

void node::write_subscription(request_kind kind, const subscription& s) {
  bool channel = s.kind == subscription::type::channel;
  const char* verb = kind == request_kind::subscribe ? (channel ? "SUBSCRIBE" : "PSUBSCRIBE")
                                                     : (channel ? "UNSUBSCRIBE" : "PUNSUBSCRIBE");
  write_step(kind, encode_command({verb, s.name}), clock_.now() + config_.node_timeout, s);
  arm_deadline();
}

// A subscribed connection's replies are pushes: messages (which answer no request) and the
// acknowledgements of (P)SUBSCRIBE, (P)UNSUBSCRIBE and PING, each of which must answer the
// oldest of those in flight, in the order they were written.
void node::on_push_reply(const reply& value) {
  result<push> p = classify_push(value, subscriptions_.in_pubsub());
  if (!p) {
    drop(p.error(), p.message());
    return;
  }
  if (p->kind != push::type::message) {
    std::optional<pending_request> asked = requests_.take_oldest();
    request_kind expected = p->kind == push::type::subscribed     ? request_kind::subscribe
                            : p->kind == push::type::unsubscribed ? request_kind::unsubscribe
                                                                  : request_kind::ping;
    if (!asked || asked->kind != expected ||
        (expected != request_kind::ping && asked->topic != p->topic)) {
      drop(errc::unexpected_reply, "a pub/sub push nobody asked for: " + value.describe());
      return;
    }
    arm_deadline();
  }
  result<bool> tell = subscriptions_.accept(*p);
  if (!tell) {
    drop(tell.error(), tell.message());
    return;
  }
  if (p->kind == push::type::unsubscribed && subscriptions_.wants(p->topic)) {
    // Last, as below. The subscribe() that wants it again is in flight: its confirmation
    // follows, and is told.
    if (push_listener_.unconfirmed) push_listener_.unconfirmed(p->topic);
    return;
  }
  if (!*tell) return;
  // Last: the listener may unsubscribe, subscribe or close the node.
  if (p->kind == push::type::message) {
    if (push_listener_.message) push_listener_.message(*p);
  } else if (push_listener_.subscribed) {
    push_listener_.subscribed(p->topic);
  }
}

// ---- failing ------------------------------------------------------------------------------

void node::drop(std::error_code code, std::string detail) {
  if (stream_ != nullptr) {
    stream_->close();
    stream_ = nullptr;
  }
  reader_ = nullptr;
  subscriptions_.connection_lost();
  // Every request in flight may have run; the ones not yet written wait for the next
  // connection (or their queue time).
  auto in_flight = requests_.take_in_flight();
  std::size_t user = 0;
  for (const auto& p : in_flight)
    user += p.kind == request_kind::user ? 1 : 0;
  failures_ += user;
  std::error_code request_code =
      code == errc::node_down ? make_error_code(errc::connection_lost) : code;
  fail_all(std::move(in_flight), request_code, detail, true);
  // Requests not yet written wait for the next connection, within their queue time: one late
  // reply must not fail what never left. A connection that never became ready fails them.
  bool was_ready = state_ == state::ready;
  requests_.start_queue_time(clock_.now());  // what waits is bounded by its budget from now on
  attempt_failed(code, std::move(detail), !was_ready);
}

void node::attempt_failed(std::error_code code, std::string detail, bool fail_unwritten) {
  ever_failed_ = true;
  status_.ready = false;
  status_.server = nullptr;
  status_.last_error = code;
  status_.last_detail = std::move(detail);
  state_ = state::down;
  if (fail_unwritten) {
    fail_all(requests_.take_unwritten(), status_.last_error, status_.last_detail, false);
  }
  if (closing_) return;
  schedule_reconnect();
  arm_deadline();
  changed();
}

void node::schedule_reconnect() {
  // Exponential backoff with jitter: the cap doubles from reconnect_min to reconnect_max,
  // and the wait is uniform in [cap/2, cap], so a fleet of clients does not reconnect in step.
  unsigned doublings = std::min(consecutive_failures_, 30u);
  ++consecutive_failures_;
  auto cap = config_.reconnect_min * (std::int64_t{1} << doublings);
  if (cap > config_.reconnect_max || cap.count() <= 0) cap = config_.reconnect_max;
  if (config_.subscriber && status_.last_error == errc::config_refused)
    cap = std::max(cap, config_.refused_backoff);
  std::uniform_int_distribution<std::int64_t> pick(cap.count() / 2, cap.count());
  uv_timer_start(
      backoff_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<node*>(t->data);
        if (!self->closing_) self->connect();
      },
      static_cast<std::uint64_t>(pick(rng_)), 0);
}

// ---- requests -----------------------------------------------------------------------------

void node::send(std::shared_ptr<const command> cmd, answer_callback done,
                std::chrono::nanoseconds queue_budget) {
  if (config_.subscriber) {
    fail_soon(std::move(done), errc::invalid_option, "a subscriber connection sends no commands",
              false);
    return;
  }
  steady::time_point now = clock_.now();
  pending_request p;
  p.cmd = std::move(cmd);
  p.done = std::move(done);
  p.queue_budget = queue_budget;
  // During the first connect, a request made right after the client was created waits for it
  // (flush writes only once ready), up to node_timeout from now. Once ready, its queue time
  // starts at the next batched write, the first chance it has to leave: a caller that queues
  // a burst before the loop runs does not expire it.
  bool first_connect = state_ == state::connecting && !ever_failed_;
  if ((state_ == state::ready || first_connect) && !closing_) {
    ++requests_sent_;
    requests_.enqueue(std::move(p),
                      first_connect ? now + config_.node_timeout : steady::time_point::max());
    flush_soon();
    arm_deadline();
  } else {
    fail_soon(std::move(p.done), status_.last_error ? status_.last_error : errc::node_down,
              status_.last_detail.empty() ? "not connected" : status_.last_detail, false);
  }
}

// Every request of a tick leaves in one write, just before the loop next waits for I/O.
void node::flush_soon() {
  if (flush_queued_ || state_ != state::ready || !requests_.has_unwritten()) return;
  flush_queued_ = true;
  services_.write_soon([](void* target) { static_cast<node*>(target)->flush(); }, this);
}

void node::flush() {
  flush_queued_ = false;
  if (stream_ == nullptr || state_ != state::ready) return;
  steady::time_point now = clock_.now();
  write_buffer_.clear();
  requests_.write_into(write_buffer_, now, config_.node_timeout);
  stream_->write(write_buffer_);
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

void node::fail_all(std::vector<pending_request> requests, std::error_code code,
                    const std::string& detail, bool maybe_ran) {
  for (auto& p : requests) {
    if (p.kind == request_kind::user) fail_soon(std::move(p.done), code, detail, maybe_ran);
  }
}

node_health node::health() const {
  node_health h;
  h.endpoint = name_;
  h.state = state_ == state::ready        ? node_state::connected
            : state_ == state::connecting ? node_state::connecting
                                          : node_state::down;
  h.last_error = status_.last_detail;
  if (config_.group && !config_.where.host.empty())
    h.master = config_.where.host + ":" + std::to_string(config_.where.port);
  if (status_.server) {
    h.run_id = status_.server->run_id;
    h.redis_version = status_.server->redis_version;
    h.uptime = status_.server->uptime;
    h.key_loss_risks = status_.server->key_loss_risks;
  }
  if (status_.quarantined_until > clock_.now()) {
    h.quarantine_left =
        std::chrono::ceil<std::chrono::milliseconds>(status_.quarantined_until - clock_.now());
    h.quarantine_reason = status_.quarantine_reason;
  }
  h.reconnects = reconnects_;
  h.requests = requests_sent_;
  h.failures = failures_;
  if (!latencies_.empty()) {
    h.latency_p50 = latencies_.quantile(0.5);
    h.latency_p99 = latencies_.quantile(0.99);
    h.latency_max = latencies_.quantile(1.0);
  }
  return h;
}

// ---- deadlines ----------------------------------------------------------------------------

void node::arm_deadline() {
  if (closing_) return;
  steady::time_point next = requests_.next_deadline();
  if (state_ == state::connecting) next = std::min(next, connect_deadline_);
  // An idle subscriber's keep-alive (while anything is in flight, its deadline will do). The
  // time moves later with every byte received; the timer is not re-armed for that, it finds
  // out when it fires.
  if (subscribed_mode_ready() && requests_.in_flight() == 0)
    next = std::min(next, last_heard_ + config_.keepalive);
  // Re-armed only for an earlier time. A later one (each request's deadline, as replies come
  // and requests leave) waits for the armed timer: on_deadline finds nothing due then and
  // arms for what is next. That saves a timer restart per request; the cost is at most one
  // early wake-up per node_timeout. (Timer stopped <=> armed_for_ is max().)
  if (next >= armed_for_) return;
  armed_for_ = next;
  uv_timer_start(
      deadline_timer_.get(), [](uv_timer_t* t) { static_cast<node*>(t->data)->on_deadline(); },
      timer_delay_ms(next - clock_.now()), 0);
}

void node::on_deadline() {
  armed_for_ = steady::time_point::max();
  steady::time_point now = clock_.now();
  // Requests that waited their whole queue time never left: for the first connect, for a
  // reconnect, or for room in the window.
  auto expired = requests_.take_expired_unwritten(now);
  if (!expired.empty()) {
    if (state_ == state::ready) {
      fail_all(std::move(expired), errc::overloaded,
               "no room among the " + std::to_string(config_.window) +
                   " requests in flight within the caller's wait budget; not sent",
               false);
    } else if (!connected_once_) {
      fail_all(std::move(expired), errc::node_timeout,
               "still connecting after " + ms_text(config_.node_timeout), false);
    } else {
      fail_all(std::move(expired), status_.last_error ? status_.last_error : errc::node_down,
               "not sent: the connection was lost (" + status_.last_detail + ")", false);
    }
  }
  if (state_ == state::connecting && now >= connect_deadline_ &&
      !(stream_ != nullptr && stream_->bytes_waiting())) {
    std::string why = "connect timed out after " + ms_text(config_.connect_timeout);
    if (resolving_ != nullptr) {
      resolving_->owner = nullptr;
      resolving_ = nullptr;
    }
    drop(errc::node_timeout, why);
  } else if ((requests_.overdue(now) || state_ == state::connecting) && stream_ != nullptr &&
             stream_->bytes_waiting() &&
             (state_ != state::connecting || now >= connect_deadline_)) {
    // The loop was busy and the reply is here, unread: read it first (timers run before the
    // loop polls for I/O), and look again a millisecond later (a 0 ms timer started from a
    // timer runs again before the poll).
    armed_for_ = now;
    uv_timer_start(
        deadline_timer_.get(), [](uv_timer_t* t) { static_cast<node*>(t->data)->on_deadline(); }, 1,
        0);
    return;
  } else if (requests_.overdue(now)) {
    // Recycle the connection: every request in flight on it fails (each may have run); late
    // replies can no longer arrive.
    drop(errc::node_timeout, "no reply within " + ms_text(config_.node_timeout));
  } else if (subscribed_mode_ready() && requests_.in_flight() == 0 &&
             now >= last_heard_ + config_.keepalive) {
    // Silence cannot be told from a dead server: ask. The answer is due like any reply.
    write_step(request_kind::ping, encode_command({"PING"}), now + config_.node_timeout);
  }
  arm_deadline();
}

// ---- closing ------------------------------------------------------------------------------

void node::close(std::function<void()> closed) {
  closing_ = true;
  locating_ = nullptr;
  if (config_.group && switch_listener_ != 0) config_.group->forget(switch_listener_);
  if (resolving_ != nullptr) {
    resolving_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolving_->req));
    resolving_ = nullptr;
  }
  close_barrier barrier([closed = std::move(closed)] {
    if (closed) closed();
  });
  if (stream_ != nullptr) {
    stream_->close();
    stream_ = nullptr;
  }
  reader_ = nullptr;
  fail_all(requests_.take_in_flight(), errc::client_closed, "the client is closing", true);
  fail_all(requests_.take_unwritten(), errc::client_closed, "the client is closing", false);
  deadline_timer_.close(barrier.expect());
  backoff_timer_.close(barrier.expect());
}

}  // namespace redlock::detail
