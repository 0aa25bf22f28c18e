#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace redlock::testing {
namespace {

using steady = std::chrono::steady_clock;

constexpr int listen_backlog = 128;
constexpr std::size_t read_buffer_size = 64 * 1024;

[[noreturn]] void throw_uv(const std::string& what, int rc) {
  throw std::runtime_error("fault_proxy: " + what + ": " + uv_strerror(rc));
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error("fault_proxy: " + what + ": " + std::strerror(errno));
}

template <typename T>
uv_handle_t* as_handle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

template <typename T>
uv_stream_t* as_stream(T* h) {
  return reinterpret_cast<uv_stream_t*>(h);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

struct fault_proxy::impl {
  struct chunk {
    steady::time_point due;
    std::string bytes;
  };

  // One direction of a connection: bytes read from one side, still to be written to the other.
  struct direction {
    uv_tcp_t* to = nullptr;
    uv_timer_t timer{};  // armed while queue is non-empty, for queue.front().due
    std::deque<chunk> queue;
  };

  // Heap-allocated and never moved (libuv holds pointers to its handles). Every handle's data
  // points back here; it is deleted once the last of its four handles has closed.
  struct connection {
    uv_tcp_t client{};
    uv_tcp_t upstream{};
    uv_connect_t connect_req{};
    direction to_upstream;
    direction to_client;
    std::size_t sent_since_cut = 0;  // client->server bytes counted by cut_after
    bool closing = false;
    bool draining = false;  // a side is gone; close once both queues are written
    int open_handles = 0;
  };

  struct write_req {
    uv_write_t req{};
    std::string bytes;  // must outlive the write
    connection* conn = nullptr;
  };

  // A function the loop thread runs for a control call; the caller waits until done.
  struct task {
    std::function<void()> fn;
    bool done = false;
    std::exception_ptr error;
  };

  explicit impl(std::uint16_t upstream_port) : upstream_addr(loopback(upstream_port)) {
    try {
      reserve_port();
      int rc = uv_loop_init(&loop);
      if (rc < 0) throw_uv("uv_loop_init", rc);
      loop_open = true;
      loop.data = this;  // how every callback finds the proxy
      rc = uv_async_init(&loop, &async, on_async);
      if (rc < 0) throw_uv("uv_async_init", rc);
      async_open = true;
      open_listener();
      // Handles set up here are handed to the thread; its start orders these writes first.
      thread = std::thread([this] { run(); });
    } catch (...) {
      if (loop_open) {
        close_listener();
        if (async_open) uv_close(as_handle(&async), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);  // runs the close callbacks
        uv_loop_close(&loop);
      }
      if (reservation >= 0) ::close(reservation);
      throw;
    }
  }

  ~impl() {
    run_on_loop([this] {
      close_listener();
      close_all(false);
      // With the async handle closed nothing keeps the loop alive: uv_run returns once the
      // close callbacks (which delete the connections) have run.
      uv_close(as_handle(&async), nullptr);
    });
    thread.join();
    uv_loop_close(&loop);
    ::close(reservation);
  }

  // A bound, never listening socket keeps the port ours for the proxy's lifetime (see the
  // header); both it and the listener set SO_REUSEADDR, which Linux allows as long as only one
  // of them listens.
  void reserve_port() {
    reservation = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (reservation < 0) throw_errno("socket");
    const int one = 1;
    if (::setsockopt(reservation, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      throw_errno("SO_REUSEADDR");
    }
    sockaddr_in a = loopback(0);
    if (::bind(reservation, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      throw_errno("bind 127.0.0.1:0");
    }
    socklen_t len = sizeof a;
    if (::getsockname(reservation, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw_errno("getsockname");
    }
    port = ntohs(a.sin_port);
  }

  void run() {
    // libuv writes with plain write(2)/writev(2), so writing to a peer that is gone raises
    // SIGPIPE, which would kill the test process. Blocked on this thread only, the signal stays
    // pending here (and dies with the thread) and the write just fails with EPIPE.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
  }

  // Runs fn on the loop thread and returns once it has run, rethrowing what it threw.
  void run_on_loop(std::function<void()> fn) {
    task t;
    t.fn = std::move(fn);
    std::unique_lock<std::mutex> lock(mu);
    tasks.push_back(&t);
    lock.unlock();
    uv_async_send(&async);  // coalesces: one callback may serve several tasks
    lock.lock();
    cv.wait(lock, [&t] { return t.done; });
    if (t.error) std::rethrow_exception(t.error);
  }

  static void on_async(uv_async_t* a) {
    auto* self = static_cast<impl*>(a->loop->data);
    std::deque<task*> batch;
    {
      std::lock_guard<std::mutex> lock(self->mu);
      batch.swap(self->tasks);
    }
    for (task* t : batch) {
      try {
        t->fn();
      } catch (...) {
        t->error = std::current_exception();
      }
    }
    {
      // A task lives on its caller's stack: once done is set it may be gone.
      std::lock_guard<std::mutex> lock(self->mu);
      for (task* t : batch) {
        t->done = true;
      }
    }
    self->cv.notify_all();
  }

  // ---- listener -------------------------------------------------------------------------

  void open_listener() {
    if (listener != nullptr) return;
    auto* l = new uv_tcp_t{};
    uv_tcp_init(&loop, l);  // cannot fail: no flags, no socket yet
    const sockaddr_in a = loopback(port);
    // uv_tcp_bind sets SO_REUSEADDR itself, and defers EADDRINUSE to uv_listen.
    int rc = uv_tcp_bind(l, reinterpret_cast<const sockaddr*>(&a), 0);
    if (rc == 0) rc = uv_listen(as_stream(l), listen_backlog, on_connection);
    if (rc < 0) {
      uv_close(as_handle(l), delete_tcp);
      throw_uv("listen on 127.0.0.1:" + std::to_string(port), rc);
    }
    listener = l;
  }

  // The fd is closed at once (uv_close closes it synchronously; only the callback waits), so
  // connects are refused as soon as this returns. Clients still in the accept backlog get RST.
  void close_listener() {
    if (listener == nullptr) return;
    uv_close(as_handle(listener), delete_tcp);
    listener = nullptr;
  }

  static void delete_tcp(uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); }

  static void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;  // e.g. EMFILE: libuv retries on the next readiness
    static_cast<impl*>(server->loop->data)->accept_client(server);
  }

  void accept_client(uv_stream_t* server) {
    auto* c = new connection;
    // None of these can fail (no flags, no socket created yet).
    uv_tcp_init(&loop, &c->client);
    uv_tcp_init(&loop, &c->upstream);
    uv_timer_init(&loop, &c->to_upstream.timer);
    uv_timer_init(&loop, &c->to_client.timer);
    c->open_handles = 4;
    c->client.data = c->upstream.data = c->connect_req.data = c;
    c->to_upstream.timer.data = c->to_client.timer.data = c;
    c->to_upstream.to = &c->upstream;
    c->to_client.to = &c->client;
    conns.insert(c);
    open_now.fetch_add(1);
    if (uv_accept(server, as_stream(&c->client)) != 0) {
      close_conn(c, false);
      return;
    }
    accepted.fetch_add(1);
    if (current.load() == mode::reset) {
      close_conn(c, true);
      return;
    }
    // Forward small chunks at once: Nagle would add its own delays to what the test measures.
    uv_tcp_nodelay(&c->client, 1);
    uv_tcp_nodelay(&c->upstream, 1);
    if (uv_tcp_connect(&c->connect_req, &c->upstream,
                       reinterpret_cast<const sockaddr*>(&upstream_addr), on_connected) != 0) {
      close_conn(c, false);
    }
  }

  // Reading the client only starts here, so nothing needs buffering before the upstream is up.
  static void on_connected(uv_connect_t* req, int status) {
    auto* c = static_cast<connection*>(req->data);
    if (c->closing) return;  // UV_ECANCELED: the connection was closed meanwhile
    impl* self = static_cast<impl*>(req->handle->loop->data);
    if (status < 0 || uv_read_start(as_stream(&c->client), on_alloc, on_read) != 0 ||
        uv_read_start(as_stream(&c->upstream), on_alloc, on_read) != 0) {
      self->close_conn(c, false);
    }
  }

  // ---- data -----------------------------------------------------------------------------

  // One buffer serves every read: libuv calls alloc and read back to back on the loop thread,
  // and on_read copies the bytes out before returning.
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<impl*>(h->loop->data);
    *buf = uv_buf_init(self->read_buffer, static_cast<unsigned int>(sizeof self->read_buffer));
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<connection*>(s->data);
    impl* self = static_cast<impl*>(s->loop->data);
    if (nread == 0) return;  // EAGAIN
    if (nread < 0) {         // EOF or error on this side: wind the whole connection down
      uv_read_stop(as_stream(&c->client));
      uv_read_stop(as_stream(&c->upstream));
      c->draining = true;
      self->close_if_drained(c);
      return;
    }
    direction& d = s == as_stream(&c->client) ? c->to_upstream : c->to_client;
    self->forward(c, d, buf->base, static_cast<std::size_t>(nread));
  }

  void forward(connection* c, direction& d, const char* data, std::size_t size) {
    switch (current.load()) {
      case mode::blackhole:
      case mode::reset:   // no connection stays open in reset ...
      case mode::refuse:  // ... nor in refuse
        return;
      case mode::cut_after:
        if (&d == &c->to_upstream) {
          const std::size_t room = cut_limit - c->sent_since_cut;
          if (size > room) {
            // Best effort: the RST right after may discard these bytes before they leave.
            if (room > 0) enqueue(c, d, std::string(data, room));
            close_conn(c, true);
            return;
          }
          c->sent_since_cut += size;
        }
        break;
      case mode::pass:
      case mode::delay:
        break;
    }
    enqueue(c, d, std::string(data, size));
  }

  void enqueue(connection* c, direction& d, std::string bytes) {
    steady::time_point due = steady::now() + latency;
    if (d.queue.empty()) {
      if (latency.count() == 0) {
        send_bytes(c, d, std::move(bytes));
        return;
      }
    } else {
      // Never overtake a chunk queued earlier (e.g. under a longer latency, or before pass).
      due = std::max(due, d.queue.back().due);
    }
    d.queue.push_back({due, std::move(bytes)});
    if (d.queue.size() == 1) arm(d);
  }

  static void arm(direction& d) {
    // libuv timers count whole milliseconds on a truncated clock and could fire up to ~1 ms
    // early by steady_clock; round up, and on_timer re-arms for anything not yet due anyway.
    const auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(d.queue.front().due - steady::now());
    uv_timer_start(&d.timer, on_timer,
                   wait.count() > 0 ? static_cast<std::uint64_t>(wait.count()) : 0, 0);
  }

  static void on_timer(uv_timer_t* t) {
    auto* c = static_cast<connection*>(t->data);
    impl* self = static_cast<impl*>(t->loop->data);
    direction& d = t == &c->to_upstream.timer ? c->to_upstream : c->to_client;
    const auto now = steady::now();
    // A failed write closes the connection, which empties the queue and ends the loop.
    while (!d.queue.empty() && d.queue.front().due <= now) {
      std::string bytes = std::move(d.queue.front().bytes);
      d.queue.pop_front();
      self->send_bytes(c, d, std::move(bytes));
    }
    if (c->closing) return;
    if (!d.queue.empty()) {
      arm(d);
    } else {
      self->close_if_drained(c);
    }
  }

  void send_bytes(connection* c, direction& d, std::string bytes) {
    auto* w = new write_req;
    w->bytes = std::move(bytes);
    w->conn = c;
    w->req.data = w;
    const uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned int>(w->bytes.size()));
    if (uv_write(&w->req, as_stream(d.to), &buf, 1, on_written) != 0) {
      delete w;
      close_conn(c, false);
    }
  }

  // Also runs, with UV_ECANCELED, for writes still pending when a stream closes; libuv does
  // that before the stream's close callback, so the connection is still alive here.
  static void on_written(uv_write_t* req, int status) {
    auto* w = static_cast<write_req*>(req->data);
    connection* c = w->conn;
    delete w;
    if (status < 0 && !c->closing)
      static_cast<impl*>(req->handle->loop->data)->close_conn(c, false);
  }

  // ---- closing --------------------------------------------------------------------------

  void close_if_drained(connection* c) {
    if (c->draining && c->to_upstream.queue.empty() && c->to_client.queue.empty()) {
      close_conn(c, false);
    }
  }

  // Closes both sockets (with RST if asked) and both timers at once; the connection stops
  // counting as open now and is deleted when the last close callback has run. Pending delayed
  // chunks are dropped; pending writes and the pending connect complete with UV_ECANCELED.
  void close_conn(connection* c, bool rst) {
    if (c->closing) return;
    c->closing = true;
    conns.erase(c);
    open_now.fetch_sub(1);
    for (direction* d : {&c->to_upstream, &c->to_client}) {
      d->queue.clear();
      uv_close(as_handle(&d->timer), on_closed);
    }
    close_stream(&c->client, rst);
    close_stream(&c->upstream, rst);
  }

  static void close_stream(uv_tcp_t* s, bool rst) {
    // uv_tcp_close_reset is SO_LINGER {1,0} + uv_close. It fails without closing when the
    // handle has no socket yet (an upstream never connected, a client whose accept failed):
    // then a plain close does.
    if (rst && uv_tcp_close_reset(s, on_closed) == 0) return;
    uv_close(as_handle(s), on_closed);
  }

  static void on_closed(uv_handle_t* h) {
    auto* c = static_cast<connection*>(h->data);
    if (--c->open_handles == 0) delete c;
  }

  void close_all(bool rst) {
    const std::vector<connection*> all(conns.begin(), conns.end());
    for (connection* c : all) {
      close_conn(c, rst);
    }
  }

  // ---- mode switches (loop thread) ------------------------------------------------------

  void set_mode(mode m, std::chrono::milliseconds lat, std::size_t cut) {
    run_on_loop([this, m, lat, cut] {
      // Listen first: if the port cannot be bound again, nothing has changed.
      if (m == mode::refuse) {
        close_listener();
      } else {
        open_listener();
      }
      current.store(m);
      latency = lat;
      cut_limit = cut;
      switch (m) {
        case mode::reset:
        case mode::refuse:
          close_all(true);
          break;
        case mode::blackhole: {
          const std::vector<connection*> all(conns.begin(), conns.end());
          for (connection* c : all) {
            for (direction* d : {&c->to_upstream, &c->to_client}) {
              d->queue.clear();
              uv_timer_stop(&d->timer);
            }
            close_if_drained(c);
          }
          break;
        }
        case mode::cut_after:
          for (connection* c : conns) {
            c->sent_since_cut = 0;
          }
          break;
        case mode::pass:
        case mode::delay:
          break;
      }
    });
  }

  // Fixed before the thread starts.
  const sockaddr_in upstream_addr;
  int reservation = -1;
  std::uint16_t port = 0;

  // Loop thread only (and the constructor / destructor around the thread's lifetime).
  uv_loop_t loop{};
  bool loop_open = false;
  uv_async_t async{};
  bool async_open = false;
  uv_tcp_t* listener = nullptr;           // null while refusing
  std::unordered_set<connection*> conns;  // open ones; closing ones own themselves
  std::chrono::milliseconds latency{0};
  std::size_t cut_limit = 0;
  char read_buffer[read_buffer_size];

  // Written on the loop thread, read anywhere.
  std::atomic<mode> current{mode::pass};
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> open_now{0};

  std::mutex mu;
  std::condition_variable cv;
  std::deque<task*> tasks;  // guarded by mu

  std::thread thread;
};

fault_proxy::fault_proxy(std::uint16_t upstream_port)
    : impl_(std::make_unique<impl>(upstream_port)) {}

fault_proxy::~fault_proxy() = default;

std::uint16_t fault_proxy::port() const {
  return impl_->port;
}

std::string fault_proxy::url() const {
  return "redis://127.0.0.1:" + std::to_string(port());
}

void fault_proxy::pass() {
  impl_->set_mode(mode::pass, {}, 0);
}

void fault_proxy::delay(std::chrono::milliseconds each_direction) {
  if (each_direction.count() < 0) {
    throw std::invalid_argument("fault_proxy::delay: negative latency");
  }
  impl_->set_mode(mode::delay, each_direction, 0);
}

void fault_proxy::blackhole() {
  impl_->set_mode(mode::blackhole, {}, 0);
}

void fault_proxy::reset() {
  impl_->set_mode(mode::reset, {}, 0);
}

void fault_proxy::refuse() {
  impl_->set_mode(mode::refuse, {}, 0);
}

void fault_proxy::cut_after(std::size_t bytes) {
  impl_->set_mode(mode::cut_after, {}, bytes);
}

fault_proxy::mode fault_proxy::current() const {
  return impl_->current.load();
}

std::size_t fault_proxy::connections_accepted() const {
  return impl_->accepted.load();
}

std::size_t fault_proxy::open_connections() const {
  return impl_->open_now.load();
}

}  // namespace redlock::testing
