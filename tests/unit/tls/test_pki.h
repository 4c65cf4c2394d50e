// Certificates for the TLS unit tests, made in memory and written as PEM files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <string>

namespace portico::tls::test_pki {

// A self-signed ECDSA P-256 certificate for `cn` with `serial`, valid for `days`, and its key.
inline void write_self_signed(const std::string& cert, const std::string& key, long serial = 1,
                              long days = 1, const char* cn = "a.test") {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
  X509_set_pubkey(x, k);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1,
                             -1, 0);
  X509_set_issuer_name(x, n);
  X509_sign(x, k, EVP_sha256());
  FILE* f = fopen(cert.c_str(), "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key.c_str(), "w");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(k);
}

}  // namespace portico::tls::test_pki
