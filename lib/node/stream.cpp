#include "node/stream.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "redlock/error.hpp"

namespace redlock::detail {

namespace {
// Verification failures (wrong CA, host name, expired) and a server's demand for a client
// certificate are the configuration's; other TLS errors (a broken record) the connection's.
bool refused_by_tls(const std::string& error) {
  return error.find("certificate verify failed") != std::string::npos ||
         error.find("certificate required") != std::string::npos;
}
}  // namespace

std::shared_ptr<stream> stream::create(uv_loop_t* loop, listener l) {
  auto s = std::make_shared<stream>(loop, std::move(l));
  s->self_ = s;
  return s;
}

stream::stream(uv_loop_t* loop, listener l) : loop_(loop), listener_(std::move(l)) {
  timer_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); });
  timer_.get()->data = this;
  uv_unref(timer_.raw());
}

stream::~stream() = default;

uv_stream_t* stream::handle() const {
  return pipe_.open() ? reinterpret_cast<uv_stream_t*>(pipe_.get())
                      : reinterpret_cast<uv_stream_t*>(tcp_.get());
}

namespace {
void on_connected(uv_connect_t* req, int status);
}

void stream::connect_tcp(const sockaddr* address, std::unique_ptr<tls_session> tls) {
  tls_ = std::move(tls);
  int rc = tcp_.init([&](uv_tcp_t* t) { return uv_tcp_init(loop_, t); });
  if (rc == 0) {
    tcp_.get()->data = this;
    uv_unref(tcp_.raw());
    uv_tcp_nodelay(tcp_.get(), 1);
    connect_req_.data = this;
    rc = uv_tcp_connect(&connect_req_, tcp_.get(), address, on_connected);
  }
  if (rc < 0) fail_soon(errc::node_down, std::string("cannot connect: ") + uv_strerror(rc));
}

void stream::connect_unix(const std::string& path) {
  int rc = pipe_.init([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); });
  if (rc < 0) {
    fail_soon(errc::node_down, std::string("cannot connect: ") + uv_strerror(rc));
    return;
  }
  pipe_.get()->data = this;
  uv_unref(pipe_.raw());
  connect_req_.data = this;
  uv_pipe_connect(&connect_req_, pipe_.get(), path.c_str(), on_connected);
}

namespace {
void on_connected(uv_connect_t* req, int status) {
  // After close() libuv cancels the request before it frees the handle, and the stream
  // lives until then; `dead_` tells it not to act.
  static_cast<stream*>(req->data)->connect_done(status);
}
}  // namespace

void stream::connect_done(int status) {
  if (dead_) return;
  if (status < 0) {
    fail(errc::node_down, uv_strerror(status));
    return;
  }
  start_reading();
}

void stream::start_reading() {
  int rc = uv_read_start(
      handle(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = static_cast<stream*>(h->data);
        self->read_buffer_.resize(64 * 1024);
        buf->base = self->read_buffer_.data();
        buf->len = self->read_buffer_.size();
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<stream*>(s->data);
        if (self->dead_) return;
        if (n < 0) {
          self->fail(errc::node_down, n == UV_EOF ? "the server closed the connection"
                                                  : uv_strerror(static_cast<int>(n)));
          return;
        }
        if (n > 0) self->on_read(buf->base, static_cast<std::size_t>(n));
      });
  if (rc < 0) {
    fail(errc::node_down, uv_strerror(rc));
    return;
  }
  if (!tls_) {
    listener_.connected();
    return;
  }
  if (!tls_->start(out_)) {
    fail(errc::node_down, tls_->error());
    return;
  }
  queue_bytes({});
}

void stream::on_read(const char* data, std::size_t size) {
  auto keep = shared_from_this();  // a listener may close us
  if (!tls_) {
    listener_.received(std::string_view(data, size));
    return;
  }
  bool was_done = tls_->handshake_done();
  std::string& plain = plain_;  // reused: its capacity stays
  plain.clear();
  std::size_t unsent = out_.size();
  bool ok = tls_->receive(std::string_view(data, size), plain, out_);
  if (out_.size() > unsent) queue_bytes({});  // a handshake step or a post-handshake answer
  if (dead_) return;
  if (!ok) {
    // Verification failures are the configuration's (wrong CA, host name, expired); others
    // (an alert, a broken record) are the connection's.
    fail(refused_by_tls(tls_->error()) ? errc::config_refused : errc::node_down, tls_->error());
    return;
  }
  if (!was_done && tls_->handshake_done()) {
    listener_.connected();
    if (dead_) return;
  }
  if (!plain.empty()) listener_.received(plain);
}

void stream::write(std::string_view bytes) {
  if (dead_ || bytes.empty()) return;
  if (!tls_) {
    queue_bytes(bytes);
    return;
  }
  // Encrypted straight into the send buffer.
  if (!tls_->send(bytes, out_)) {
    fail_soon(errc::node_down, tls_->error());
    return;
  }
  queue_bytes({});
}

bool stream::bytes_waiting() const {
  if (dead_) return false;
  uv_os_fd_t socket = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(handle()), &socket) != 0) return false;
  int waiting = 0;
  return ioctl(socket, FIONREAD, &waiting) == 0 && waiting > 0;
}

void stream::queue_bytes(std::string_view bytes) {
  out_.append(bytes.data(), bytes.size());
  if (!out_.empty() && uv_is_active(timer_.raw()) == 0) send_now();  // else the timer sends it
}

// send(2) with MSG_NOSIGNAL: a broken connection gives EPIPE, never SIGPIPE.
void stream::send_now() {
  uv_os_fd_t socket = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(handle()), &socket);
  std::size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = ::send(socket, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      out_.clear();
      std::string why = std::string("the connection broke while writing: ") +
                        (n < 0 ? std::strerror(errno) : "nothing written");
      // A TLS server that refuses us (no client certificate) sends an alert, then resets:
      // the alert, if it is still there to read, says why.
      std::string alert = tls_alert_pending(socket);
      if (alert.empty()) {
        fail_soon(errc::node_down, why);
      } else {
        fail_soon(refused_by_tls(alert) ? errc::config_refused : errc::node_down, alert);
      }
      return;
    }
  }
  out_.erase(0, sent);
  // The socket buffer is full: try again shortly (reading goes on meanwhile).
  if (!out_.empty()) uv_timer_start(timer_.get(), on_timer, 1, 0);
}

std::string stream::tls_alert_pending(int socket) {
  if (!tls_) return {};
  char buf[16384];
  std::string cipher;
  ssize_t n;
  while ((n = ::recv(socket, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    cipher.append(buf, static_cast<std::size_t>(n));
  std::string plain, reply;
  if (cipher.empty() || tls_->receive(cipher, plain, reply)) return {};
  return tls_->error();
}

void stream::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<stream*>(timer->data);
  if (self->dead_) return;
  if (self->pending_error_) {
    self->fail(self->pending_error_, std::move(self->pending_detail_));
  } else if (!self->out_.empty()) {
    self->send_now();
  }
}

void stream::fail_soon(std::error_code code, std::string detail) {
  if (dead_ || pending_error_) return;
  pending_error_ = code;
  pending_detail_ = std::move(detail);
  uv_timer_start(timer_.get(), on_timer, 0, 0);
}

void stream::fail(std::error_code code, std::string detail) {
  if (dead_) return;
  auto keep = shared_from_this();
  auto failed = std::move(listener_.failed);
  close();
  if (failed) failed(code, std::move(detail));
}

void stream::close() {
  if (dead_) return;
  dead_ = true;
  listener_ = {};
  // The last close callback drops the stream's reference to itself.
  close_barrier barrier([self = std::move(self_)] {});
  timer_.close(barrier.expect());
  if (tcp_.open()) tcp_.close(barrier.expect());
  if (pipe_.open()) pipe_.close(barrier.expect());
}

}  // namespace redlock::detail
