// stream: the bytes of one connection to one server, over TCP (uv_tcp_t) or a unix socket
// (uv_pipe_t), plain or TLS (a tls_session on memory BIOs). It is the one owner of its uv
// handles, and lives until they are closed.
//
// - write() sends at once, as much as the socket takes, with send(..., MSG_NOSIGNAL): no
//   write ever raises SIGPIPE, so no signal mask is needed. What the socket does not take
//   waits in a buffer and is retried every millisecond until it drains (a full socket buffer
//   means a slow or stuck server; the request deadlines bound how long that lasts).
// - Events run on the loop thread, never inside a call into the stream; none runs after
//   `failed` or close(). `failed` runs at most once, and the stream is dead after it.
//
//   auto s = stream::create(loop, {on_connected, on_received, on_failed});
//   s->connect_tcp(address, tls);   // tls may be null
//   s->write(bytes);
//   s->close();                     // the handles are freed in their close callbacks
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "node/tls.hpp"
#include "uv_handle.hpp"

namespace redlock::detail {

class stream : public std::enable_shared_from_this<stream> {
 public:
  struct listener {
    std::function<void()> connected;                 // connected, and the TLS handshake is done
    std::function<void(std::string_view)> received;  // plaintext from the server
    // `code`: node_down (connect failed, the server closed, the socket broke) or
    // config_refused (TLS verification failed); `detail` says why in words.
    std::function<void(std::error_code code, std::string detail)> failed;
  };

  static std::shared_ptr<stream> create(uv_loop_t* loop, listener l);
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream();

  // Starts connecting; the outcome is `connected` or `failed`. `tls` (may be null) runs its
  // handshake before `connected`.
  void connect_tcp(const sockaddr* address, std::unique_ptr<tls_session> tls);
  void connect_unix(const std::string& path);
  void write(std::string_view bytes);
  // Whether bytes from the server wait in the socket, not yet read (a reply that came in
  // time may wait there while the loop was busy).
  bool bytes_waiting() const;
  // No event runs after this; the handles close and the stream frees itself once they have.
  void close();
  // For the connect request's callback.
  void connect_done(int status);

  explicit stream(uv_loop_t* loop, listener l);

 private:
  void start_reading();
  void on_read(const char* data, std::size_t size);
  void queue_bytes(std::string_view bytes);
  void send_now();
  // Fails from the loop (the retry timer), never inside the caller's call.
  void fail_soon(std::error_code code, std::string detail);
  void fail(std::error_code code, std::string detail);
  static void on_timer(uv_timer_t* timer);
  // What a TLS alert already received says, when a write broke; empty if none.
  std::string tls_alert_pending(int socket);
  uv_stream_t* handle() const;

  uv_loop_t* loop_;
  listener listener_;
  uv_handle<uv_tcp_t> tcp_;      // TCP, or
  uv_handle<uv_pipe_t> pipe_;    // a unix socket
  uv_handle<uv_timer_t> timer_;  // retries a send the socket did not take; reports fail_soon
  uv_connect_t connect_req_{};
  std::unique_ptr<tls_session> tls_;
  std::string out_;  // bytes for the socket (ciphertext with TLS) not yet taken
  std::string read_buffer_;
  std::string plain_;              // TLS: what the last read decrypted to
  std::error_code pending_error_;  // for fail_soon
  std::string pending_detail_;
  bool dead_ = false;             // failed or closed: no more events
  std::shared_ptr<stream> self_;  // until close(): the handles point at us
};

}  // namespace redlock::detail
