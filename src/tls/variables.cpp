#include "tls/variables.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>

#include <fmt/format.h>

#include "tls/session.h"

namespace portico::tls {

namespace {

// The connection's SSL once its handshake is done; null on a plain connection.
SSL* ssl_of(const Session* t) {
  return t && !t->plain_http() && t->handshake_done() ? t->native() : nullptr;
}

bool var_protocol(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  out += SSL_get_version(s);
  return true;
}

bool var_cipher(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  out += SSL_get_cipher_name(s);
  return true;
}

bool var_server_name(const Session* t, std::string& out) {
  if (!ssl_of(t) || t->server_name().empty()) return false;
  out += t->server_name();
  return true;
}

bool var_session_reused(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  out += s && SSL_session_reused(s) ? "r" : ".";
  return true;
}

void hex(const unsigned char* p, size_t n, std::string& out, bool upper = false) {
  static const char* kLower = "0123456789abcdef";
  static const char* kUpper = "0123456789ABCDEF";
  const char* digits = upper ? kUpper : kLower;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
}

bool var_session_id(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  SSL_SESSION* sess = s ? SSL_get0_session(s) : nullptr;
  if (!sess) return false;
  unsigned int len = 0;
  const unsigned char* id = SSL_SESSION_get_id(sess, &len);
  hex(id, len, out);
  return true;
}

struct Cert {
  X509* x = nullptr;
  ~Cert() { X509_free(x); }
};

bool var_client_verify(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  Cert c{SSL_get1_peer_certificate(s)};
  const long rc = SSL_get_verify_result(s);
  if (rc != X509_V_OK) {
    out += "FAILED:";
    out += X509_verify_cert_error_string(rc);
  } else {
    out += c.x ? "SUCCESS" : "NONE";
  }
  return true;
}

bool name_text(X509_NAME* n, std::string& out) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return false;
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_s_dn(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  return name_text(X509_get_subject_name(c.x), out);
}

bool var_client_i_dn(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  return name_text(X509_get_issuer_name(c.x), out);
}

bool var_client_serial(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  BIO* b = BIO_new(BIO_s_mem());
  i2a_ASN1_INTEGER(b, X509_get_serialNumber(c.x));
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_fingerprint(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(c.x, EVP_sha1(), md, &len) != 1) return false;
  hex(md, len, out);
  return true;
}

bool pem_of(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return false;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c.x);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_ciphers(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  STACK_OF(SSL_CIPHER)* list = SSL_get_client_ciphers(s);
  for (int i = 0; list && i < sk_SSL_CIPHER_num(list); ++i) {
    if (i) out += ':';
    out += SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i));
  }
  return true;
}

void append_group(int nid, std::string& out) {
  const char* name = nid & TLSEXT_nid_unknown ? nullptr : OBJ_nid2sn(nid);
  if (name)
    out += name;
  else
    out += fmt::format("0x{:04x}", nid & 0xffff);
}

bool var_curves(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  const int n = SSL_get1_curves(s, nullptr);
  if (n <= 0) return true;
  int ids[128];
  if (n > 128) return false;
  SSL_get1_curves(s, ids);
  for (int i = 0; i < n; ++i) {
    if (i) out += ':';
    append_group(ids[i], out);
  }
  return true;
}

bool var_curve(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  const int nid = SSL_get_negotiated_group(s);
  if (nid) append_group(nid, out);
  return true;
}

bool legacy_name(X509_NAME* n, std::string& out) {
  char* p = X509_NAME_oneline(n, nullptr, 0);
  if (!p) return false;
  out += p;
  OPENSSL_free(p);
  return true;
}

bool var_client_s_dn_legacy(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || legacy_name(X509_get_subject_name(c.x), out);
}

bool var_client_i_dn_legacy(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || legacy_name(X509_get_issuer_name(c.x), out);
}

bool time_text(const ASN1_TIME* t, std::string& out) {
  BIO* b = BIO_new(BIO_s_mem());
  ASN1_TIME_print(b, t);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_v_start(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || time_text(X509_get0_notBefore(c.x), out);
}

bool var_client_v_end(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || time_text(X509_get0_notAfter(c.x), out);
}

// Days until the client certificate expires (0 once it has).
bool var_client_v_remain(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(c.x)) != 1) return false;
  if (days < 0 || (days == 0 && secs < 0)) days = 0;
  out += std::to_string(days);
  return true;
}

bool var_early_data(const Session* t, std::string&) {
  (void)t;  // 0-RTT data is not accepted yet: never "1"
  return true;
}

bool var_alpn_protocol(const Session* t, std::string& out) {
  SSL* s = ssl_of(t);
  if (!s) return false;
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(s, &p, &len);
  out.append(reinterpret_cast<const char*>(p), len);
  return true;
}

bool var_client_raw_cert(const Session* t, std::string& out) {
  if (!pem_of(t, out)) out.clear();
  return true;
}

// The deprecated form: every line after the first starts with a tab (a header continuation).
bool var_client_cert(const Session* t, std::string& out) {
  std::string pem;
  if (!pem_of(t, pem)) return true;
  while (!pem.empty() && pem.back() == '\n') pem.pop_back();
  for (char ch : pem) {
    out += ch;
    if (ch == '\n') out += '\t';
  }
  return true;
}

// The PEM, URL-encoded (nginx's $ssl_client_escaped_cert).
bool var_client_escaped_cert(const Session* t, std::string& out) {
  std::string pem;
  if (!pem_of(t, pem)) return true;
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char ch : pem) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += char(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return true;
}

using Getter = bool (*)(const Session* t, std::string& out);

// In the order of kVariableNames.
const Getter kGetters[] = {
    var_ciphers,
    var_curves,
    var_curve,
    var_client_s_dn_legacy,
    var_client_i_dn_legacy,
    var_client_v_start,
    var_client_v_end,
    var_client_v_remain,
    var_client_escaped_cert,
    var_early_data,
    var_alpn_protocol,
    var_protocol,
    var_cipher,
    var_server_name,
    var_session_reused,
    var_session_id,
    var_client_verify,
    var_client_s_dn,
    var_client_i_dn,
    var_client_serial,
    var_client_fingerprint,
    var_client_cert,
    var_client_raw_cert,
};

static_assert(std::size(kGetters) == std::size(kVariableNames));

}  // namespace

bool get_variable(size_t index, const Session* t, std::string& out) {
  return kGetters[index](t, out);
}

int find_variable(std::string_view name) {
  for (size_t i = 0; i < std::size(kVariableNames); ++i)
    if (kVariableNames[i] == name) return int(i);
  return -1;
}

}  // namespace portico::tls
