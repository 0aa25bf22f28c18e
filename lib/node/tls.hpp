// TLS on our own streams: an OpenSSL client context built from tls_options, and one session
// per connection that works on memory BIOs, so the stream moves the bytes and OpenSSL never
// touches a socket.
//
//   session.start(out)                 -> ciphertext to send in `out` (the ClientHello)
//   session.receive(cipher, plain, out) -> plaintext for the reader, ciphertext to send back
//   session.send(plain, out)            -> ciphertext to send
// Every call returns false once the session has failed; error() then says why in words
// ("certificate verify failed: certificate has expired", "tlsv13 alert certificate required").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "redlock/options.hpp"
#include "redlock/result.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace redlock::detail {

class tls_context {
 public:
  // Reads the CA, certificate and key files; errors are invalid_option naming the option and
  // the file.
  static result<std::shared_ptr<tls_context>> create(const tls_options& options);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  SSL_CTX* get() const { return ctx_; }
  const tls_options& options() const { return options_; }

 private:
  tls_context(SSL_CTX* ctx, tls_options options) : ctx_(ctx), options_(std::move(options)) {}
  SSL_CTX* ctx_;
  tls_options options_;
};

class tls_session {
 public:
  // `host`: the endpoint's host, verified (and sent as SNI) unless the options name another.
  tls_session(std::shared_ptr<const tls_context> context, const std::string& host);
  ~tls_session();
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  bool start(std::string& out);
  bool receive(std::string_view cipher, std::string& plain, std::string& out);
  bool send(std::string_view plain, std::string& out);
  bool handshake_done() const { return handshake_done_; }
  const std::string& error() const { return error_; }

 private:
  bool step(std::string& out);
  bool fail(int rc, const char* what);
  void drain(std::string& out);

  std::shared_ptr<const tls_context> context_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // ciphertext from the server, read by OpenSSL
  BIO* out_ = nullptr;  // ciphertext OpenSSL wrote, for the server
  bool handshake_done_ = false;
  std::string error_;
};

}  // namespace redlock::detail
