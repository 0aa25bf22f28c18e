// Certificates for TLS tests, made on the spot by the openssl command-line tool (OpenSSL 3.0 or
// newer: leaf certificates are signed with `req -x509 -CA`). Keys are EC P-256, so a whole set
// takes a few tens of milliseconds. redis_fleet makes one set per TLS fleet in <dir>/certs.
//
//   cert_set certs = make_test_certs(dir);
//   // redis-server --tls-cert-file certs.server_cert --tls-key-file certs.server_key ...
//   // a client trusts certs.ca_cert; certs.other_ca_cert is a CA that signed none of these
//
// The files are PEM; the keys are unencrypted PKCS#8. Also in the directory: openssl.cnf (the
// extensions of each kind of certificate) and ca-db/ (what `openssl ca` needs to sign the
// expired certificate).
#pragma once

#include <string>

namespace redlock::testing {

struct cert_set {
  std::string dir;  // where the files are
  // A test CA (CN "redlock test CA"), the one the others are signed by.
  std::string ca_cert;
  std::string ca_key;
  // CN localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1; extendedKeyUsage serverAuth.
  std::string server_cert;
  std::string server_key;
  // CN and SAN DNS:not-this-host.example only: fails any hostname or IP check against the fleet.
  std::string wrong_host_cert;
  std::string wrong_host_key;
  // As server_cert, but valid only from two days ago until one day ago.
  std::string expired_cert;
  std::string expired_key;
  // An unrelated CA (CN "redlock unrelated test CA") that signed nothing here: trusting it
  // instead of ca_cert must fail verification.
  std::string other_ca_cert;
  std::string other_ca_key;
  // CN redlock-test-client, extendedKeyUsage clientAuth: for mutual TLS.
  std::string client_cert;
  std::string client_key;
};

// Generates a fresh set into dir (created if missing; files of the same names are replaced).
// Throws std::runtime_error if openssl is not on PATH or a command fails; the message names the
// command and has its output (openssl prints its errors on stderr).
cert_set make_test_certs(const std::string& dir);

}  // namespace redlock::testing
