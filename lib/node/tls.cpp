#include "node/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

namespace redlock::detail {

namespace {

// The first error on OpenSSL's queue, in words, and clears the queue.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  std::string out;
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) {
      out = reason;
    } else if (ERR_SYSTEM_ERROR(code)) {  // OpenSSL 3: errno in the low bits, no reason string
      out = std::strerror(static_cast<int>(code & ERR_SYSTEM_MASK));
    } else {
      out = "error " + std::to_string(code);
    }
  }
  ERR_clear_error();
  return out;
}

result<void> bad_file(const char* option, const std::string& path) {
  std::string why = openssl_error();
  return {errc::invalid_option, "invalid option tls." + std::string(option) + ": cannot use '" +
                                    path + "'" + (why.empty() ? "" : ": " + why)};
}

// A call that returned <= 0 only waits for more bytes (as opposed to failing). SSL_get_error
// would say so too, but it looks at this thread's error queue first, where other code on the
// thread may have left errors; keeping the queue clear before every call costs more than a
// small record's encryption in OpenSSL 3. The session's own state does not depend on it.
bool waits(const SSL* ssl) {
  return SSL_want_read(ssl) || SSL_want_write(ssl);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

result<std::shared_ptr<tls_context>> tls_context::create(const tls_options& options) {
  if (!options.cert_file.empty() && options.key_file.empty()) {
    return {errc::invalid_option, "invalid option tls.key_file: required with tls.cert_file"};
  }
  if (options.cert_file.empty() && !options.key_file.empty()) {
    return {errc::invalid_option, "invalid option tls.cert_file: required with tls.key_file"};
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return {errc::invalid_option, "cannot create a TLS context: " + openssl_error()};
  }
  std::shared_ptr<tls_context> out(new tls_context(ctx, options));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!options.insecure_skip_verify) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.ca_file.empty() || !options.ca_dir.empty()) {
    if (SSL_CTX_load_verify_locations(
            ctx, options.ca_file.empty() ? nullptr : options.ca_file.c_str(),
            options.ca_dir.empty() ? nullptr : options.ca_dir.c_str()) != 1) {
      return options.ca_file.empty() ? bad_file("ca_dir", options.ca_dir)
                                     : bad_file("ca_file", options.ca_file);
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return {
        errc::invalid_option,
        "invalid option tls.ca_file: the system's CA store cannot be loaded: " + openssl_error()};
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      return bad_file("cert_file", options.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return bad_file("key_file", options.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return {errc::invalid_option, "invalid option tls.key_file: '" + options.key_file +
                                        "' is not the key of '" + options.cert_file + "'"};
    }
  }
  return out;
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

tls_session::tls_session(std::shared_ptr<const tls_context> context, const std::string& host)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->get());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    error_ = "cannot create a TLS session: " + openssl_error();
    BIO_free(in_);
    BIO_free(out_);
    in_ = out_ = nullptr;
    return;
  }
  BIO_set_mem_eof_return(in_, -1);  // an empty input BIO means "wait", not end of stream
  SSL_set_bio(ssl_, in_, out_);     // the session owns both BIOs now
  SSL_set_connect_state(ssl_);
  const tls_options& o = context_->options();
  const std::string& name = o.server_name.empty() ? host : o.server_name;
  if (!is_ip_literal(name)) SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (!o.insecure_skip_verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (is_ip_literal(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
  }
}

tls_session::~tls_session() {
  SSL_free(ssl_);  // frees the BIOs too
}

// Ciphertext OpenSSL wrote goes straight to the end of `out`: no buffer in between.
void tls_session::drain(std::string& out) {
  std::size_t pending;
  while ((pending = BIO_ctrl_pending(out_)) > 0) {
    std::size_t at = out.size();
    out.resize(at + pending);
    int n = BIO_read(out_, out.data() + at, static_cast<int>(pending));
    out.resize(at + static_cast<std::size_t>(std::max(n, 0)));
    if (n <= 0) return;
  }
}

bool tls_session::fail(int rc, const char* what) {
  int code = SSL_get_error(ssl_, rc);
  std::string why;
  long verify = SSL_get_verify_result(ssl_);
  if (!handshake_done_ && verify != X509_V_OK) {
    why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else if (code == SSL_ERROR_ZERO_RETURN) {
    why = "the server closed the TLS session";
  } else {
    why = openssl_error();
    if (why.empty()) why = "error " + std::to_string(code);
  }
  error_ = std::string(what) + ": " + why;
  return false;
}

bool tls_session::step(std::string& out) {
  if (handshake_done_) return true;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  drain(out);
  if (rc == 1) {
    handshake_done_ = true;
    return true;
  }
  int code = SSL_get_error(ssl_, rc);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
  return fail(rc, "TLS handshake failed");
}

bool tls_session::start(std::string& out) {
  if (!error_.empty()) return false;
  return step(out);
}

bool tls_session::receive(std::string_view cipher, std::string& plain, std::string& out) {
  if (!error_.empty()) return false;
  // OpenSSL's error queue is per thread, and the thread running the loop may be a caller's:
  // start empty, so that a failure names our error and not one that thread had left.
  ERR_clear_error();
  if (!cipher.empty() && BIO_write(in_, cipher.data(), static_cast<int>(cipher.size())) <= 0) {
    error_ = "TLS: cannot buffer received bytes";
    return false;
  }
  if (!step(out)) return false;
  if (!handshake_done_) return true;
  // Read while records wait; stopping when the input is used up spares the call that would
  // only say "want read" (not cheap in OpenSSL 3).
  char buf[16384];
  while (BIO_ctrl_pending(in_) > 0 || SSL_pending(ssl_) > 0) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    drain(out);  // post-handshake messages may want an answer
    if (waits(ssl_)) return true;
    return fail(n, "TLS");
  }
  drain(out);
  return true;
}

bool tls_session::send(std::string_view plain, std::string& out) {
  if (!error_.empty()) return false;
  ERR_clear_error();  // as in receive()
  while (!plain.empty()) {
    int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n <= 0) return fail(n, "TLS");  // a memory BIO takes every record: never a wait
    plain.remove_prefix(static_cast<std::size_t>(n));
  }
  drain(out);
  return true;
}

}  // namespace redlock::detail
