#include "tls/context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "tls/session.h"

namespace portico::tls {

namespace {

// ---- errors ----

BuildError err_at(const Origin& at, std::string msg) {
  return BuildError{std::move(msg), at};
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// ---- certificates and keys ----

struct Bio {
  BIO* b = nullptr;
  ~Bio() { BIO_free(b); }
};

int no_password(char*, int, int, void*) {
  return 0;  // never prompt on a terminal
}

int give_password(char* buf, int size, int, void* arg) {
  const std::string* pw = static_cast<const std::string*>(arg);
  int n = int(std::min<size_t>(pw->size(), size_t(size)));
  std::memcpy(buf, pw->data(), size_t(n));
  return n;
}

EVP_PKEY* read_key(const std::string& path, const std::vector<std::string>& passwords) {
  if (passwords.empty()) {
    Bio bio{BIO_new_file(path.c_str(), "r")};
    if (!bio.b) return nullptr;
    return PEM_read_bio_PrivateKey(bio.b, nullptr, no_password, nullptr);
  }
  for (const std::string& pw : passwords) {
    Bio bio{BIO_new_file(path.c_str(), "r")};
    if (!bio.b) return nullptr;
    EVP_PKEY* k =
        PEM_read_bio_PrivateKey(bio.b, nullptr, give_password, const_cast<std::string*>(&pw));
    if (k) {
      ERR_clear_error();
      return k;
    }
  }
  return nullptr;
}

CertInfo describe(const std::string& file, X509* x) {
  CertInfo ci;
  ci.file = file;
  char buf[256];
  const X509_NAME* subject = X509_get_subject_name(x);
  if (X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(subject), NID_commonName, buf, sizeof buf) >
      0)
    ci.subject = buf;
  else if (X509_NAME_oneline(subject, buf, sizeof buf))
    ci.subject = buf;
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) ci.not_after = int64_t(timegm(&tm));
  if (EVP_PKEY* pk = X509_get0_pubkey(x)) {
    const int id = EVP_PKEY_get_base_id(pk);
    char group[64];
    size_t glen = 0;
    if (id == EVP_PKEY_RSA)
      ci.key = fmt::format("RSA {}", EVP_PKEY_get_bits(pk));
    else if (id == EVP_PKEY_EC && EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) == 1)
      ci.key = fmt::format("EC {}", std::string_view(group, glen));
    else if (const char* name = OBJ_nid2sn(id))
      ci.key = name;
  }
  ERR_clear_error();
  return ci;
}

bool load_cert_pair(SSL_CTX* ctx, const CertKey& ck, const std::vector<std::string>& passwords,
                    std::vector<BuildError>* errors, std::vector<CertInfo>* info = nullptr) {
  Bio bio{BIO_new_file(ck.cert.c_str(), "r")};
  if (!bio.b) {
    errors->push_back(err_at(ck.at, fmt::format("cannot load certificate \"{}\": BIO_new_file() "
                                                "failed{}",
                                                ck.cert, ssl_error_text())));
    return false;
  }
  X509* x = PEM_read_bio_X509_AUX(bio.b, nullptr, nullptr, nullptr);
  if (!x) {
    errors->push_back(err_at(ck.at, fmt::format("cannot load certificate \"{}\": "
                                                "PEM_read_bio_X509_AUX() failed{}",
                                                ck.cert, ssl_error_text())));
    return false;
  }
  if (info) info->push_back(describe(ck.cert, x));
  if (SSL_CTX_use_certificate(ctx, x) != 1) {
    X509_free(x);
    errors->push_back(err_at(
        ck.at, fmt::format("SSL_CTX_use_certificate(\"{}\") failed{}", ck.cert, ssl_error_text())));
    return false;
  }
  X509_free(x);
  // The rest of the file is the chain of this certificate.
  SSL_CTX_clear_chain_certs(ctx);
  for (;;) {
    X509* c = PEM_read_bio_X509(bio.b, nullptr, nullptr, nullptr);
    if (!c) {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      errors->push_back(err_at(ck.at, fmt::format("cannot load certificate \"{}\": "
                                                  "PEM_read_bio_X509() failed{}",
                                                  ck.cert, ssl_error_text())));
      return false;
    }
    if (SSL_CTX_add0_chain_cert(ctx, c) != 1) {
      X509_free(c);
      errors->push_back(err_at(ck.at, fmt::format("SSL_CTX_add0_chain_cert(\"{}\") failed{}",
                                                  ck.cert, ssl_error_text())));
      return false;
    }
  }
  EVP_PKEY* key = read_key(ck.key, passwords);
  if (!key) {
    errors->push_back(err_at(ck.at, fmt::format("cannot load certificate key \"{}\": "
                                                "PEM_read_bio_PrivateKey() failed{}",
                                                ck.key, ssl_error_text())));
    return false;
  }
  const int ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1) {
    errors->push_back(err_at(
        ck.at, fmt::format("SSL_CTX_use_PrivateKey(\"{}\") failed{}", ck.key, ssl_error_text())));
    return false;
  }
  return true;
}

// ---- callbacks (any worker thread; they read only the immutable Context) ----

int g_ctx_index = -1;
std::once_flag g_once;
unsigned char g_ticket_secret[32];

void init_globals() {
  std::call_once(g_once, [] {
    g_ctx_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    if (RAND_bytes(g_ticket_secret, sizeof g_ticket_secret) != 1) abort();
  });
}

const Context* context_of(SSL* ssl) {
  return static_cast<const Context*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_ctx_index));
}

// nginx's ngx_ssl_verify_callback: never fail the handshake here; the request checks the result
// ($ssl_client_verify, 400 "The SSL certificate error").
int verify_accept(int, X509_STORE_CTX*) {
  return 1;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* c = static_cast<const Context*>(arg);
  for (const std::string& want : c->settings().alpn) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int n = in[i];
      if (i + 1 + n > inlen) break;
      if (n == want.size() && std::memcmp(in + i + 1, want.data(), n) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // as nginx: no protocol in common
}

int status_cb(SSL* ssl, void*) {
  const Context* c = context_of(ssl);
  if (!c || c->stapling().empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* p =
      static_cast<unsigned char*>(OPENSSL_memdup(c->stapling().data(), c->stapling().size()));
  if (!p) return SSL_TLSEXT_ERR_NOACK;
  SSL_set_tlsext_status_ocsp_resp(ssl, p, long(c->stapling().size()));
  return SSL_TLSEXT_ERR_OK;
}

// The derived ticket key of (period, epoch), computed once per worker thread and epoch: a
// TLS 1.3 handshake issues two tickets and a resumption decrypts one, and each derivation is
// three HMACs whose one-shot API fetches HMAC and SHA-256 from OpenSSL 3's provider store
// (under its shared lock) every time.
const Context::TicketKey& cached_ticket_key(uint64_t period, uint64_t epoch) {
  struct Slot {
    uint64_t period = 0, epoch = 0;
    bool valid = false;
    Context::TicketKey key;
  };
  thread_local Slot slots[2];  // the current epoch and the one before
  for (Slot& sl : slots)
    if (sl.valid && sl.period == period && sl.epoch == epoch) return sl.key;
  // Replace an empty slot, else the older epoch.
  Slot& sl = !slots[0].valid                   ? slots[0]
             : !slots[1].valid                 ? slots[1]
             : slots[0].epoch < slots[1].epoch ? slots[0]
                                               : slots[1];
  sl.key = derived_ticket_key(period, epoch);
  sl.period = period;
  sl.epoch = epoch;
  sl.valid = true;
  return sl.key;
}

// The ticket ciphers, fetched once (EVP_aes_*_cbc() are legacy tables: every init with one
// fetches the implementation again, under OpenSSL 3's shared lock).
const EVP_CIPHER* ticket_cipher(size_t key_len) {
  static const EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  static const EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  const EVP_CIPHER* c = key_len == 16 ? aes128 : aes256;
  if (c) return c;
  return key_len == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

// Ticket encryption/decryption: see context.h.
int ticket_cb(SSL* ssl, unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* ectx,
              EVP_MAC_CTX* hctx, int enc) {
  const Context* c = context_of(ssl);
  if (!c) return -1;
  const uint64_t period = std::max<uint64_t>(c->settings().session_timeout_s, 1);
  const uint64_t epoch = uint64_t(time(nullptr)) / period;
  const Context::TicketKey* key = nullptr;
  int rc = 1;
  const auto& files = c->ticket_keys();
  if (enc) {
    if (!files.empty()) {
      key = &files[0];
    } else {
      key = &cached_ticket_key(period, epoch);
    }
    if (RAND_bytes(iv, 16) != 1) return -1;
    std::memcpy(name, key->name, 16);
  } else if (!files.empty()) {
    for (size_t i = 0; i < files.size() && !key; ++i)
      if (std::memcmp(name, files[i].name, 16) == 0) {
        key = &files[i];
        rc = i == 0 ? 1 : 2;
      }
    if (!key) return 0;
  } else {
    for (uint64_t e : {epoch, epoch - 1}) {
      const Context::TicketKey& k = cached_ticket_key(period, e);
      if (std::memcmp(name, k.name, 16) == 0) {
        key = &k;
        rc = e == epoch ? 1 : 2;  // 2: renew a ticket of the previous epoch
        break;
      }
    }
    if (!key) return 0;
  }
  const EVP_CIPHER* cipher = ticket_cipher(key->aes_len);
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(
      OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac), key->hmac_len);
  params[1] =
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
  if (enc) {
    if (EVP_EncryptInit_ex(ectx, cipher, nullptr, key->aes, iv) != 1) return -1;
  } else {
    if (EVP_DecryptInit_ex(ectx, cipher, nullptr, key->aes, iv) != 1) return -1;
  }
  return rc;
}

// Sessions resume only in the context they were made in: the id context names the server's
// certificates (and client CA), as nginx's ngx_ssl_session_id_context.
void set_session_id_context(SSL_CTX* ctx, const Settings& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* m = EVP_MD_CTX_new();
  EVP_DigestInit_ex(m, EVP_sha1(), nullptr);
  for (const CertKey& ck : s.certs) EVP_DigestUpdate(m, ck.cert.data(), ck.cert.size());
  EVP_DigestUpdate(m, s.client_certificate.data(), s.client_certificate.size());
  EVP_DigestFinal_ex(m, md, &len);
  EVP_MD_CTX_free(m);
  SSL_CTX_set_session_id_context(ctx, md, std::min<unsigned int>(len, SSL_MAX_SID_CTX_LENGTH));
}

bool load_ticket_key_file(const std::string& path, const Origin& at, Context::TicketKey* k,
                          std::vector<BuildError>* errors) {
  std::string data;
  if (!read_file(path, &data)) {
    errors->push_back(
        err_at(at, fmt::format("open() \"{}\" failed ({})", path, std::strerror(errno))));
    return false;
  }
  if (data.size() != 48 && data.size() != 80) {
    errors->push_back(err_at(at, fmt::format("\"{}\" must be 48 or 80 bytes", path)));
    return false;
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
  std::memcpy(k->name, p, 16);
  if (data.size() == 48) {  // name, 16-byte HMAC key, AES-128 key
    std::memcpy(k->hmac, p + 16, 16);
    std::memcpy(k->aes, p + 32, 16);
    k->hmac_len = k->aes_len = 16;
  } else {  // name, 32-byte HMAC key, AES-256 key
    std::memcpy(k->hmac, p + 16, 32);
    std::memcpy(k->aes, p + 48, 32);
    k->hmac_len = k->aes_len = 32;
  }
  return true;
}

}  // namespace

std::string ssl_error_text() {
  std::string s;
  for (;;) {
    const char* data = nullptr;
    int flags = 0;
    unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
    if (e == 0) break;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += s.empty() ? " (SSL: " : " ";
    s += buf;
    if (data && (flags & ERR_TXT_STRING) && *data) {
      s += ':';
      s += data;
    }
  }
  if (!s.empty()) s += ')';
  return s;
}

Context::TicketKey derived_ticket_key(uint64_t period_s, uint64_t epoch) {
  init_globals();
  auto mac = [&](const char* label, unsigned char* out) {
    unsigned char msg[32];
    size_t n = std::strlen(label);
    std::memcpy(msg, label, n);
    std::memcpy(msg + n, &period_s, 8);
    std::memcpy(msg + n + 8, &epoch, 8);
    unsigned int len = 32;
    HMAC(EVP_sha256(), g_ticket_secret, sizeof g_ticket_secret, msg, n + 16, out, &len);
  };
  Context::TicketKey k;
  unsigned char tag[32];
  mac("name", tag);
  std::memcpy(k.name, "ptk1", 4);
  std::memcpy(k.name + 4, &epoch, 8);
  std::memcpy(k.name + 12, tag, 4);
  mac("hmac", k.hmac);
  mac("aes", k.aes);
  k.hmac_len = k.aes_len = 32;
  return k;
}

std::vector<FileStamp> Context::stamp_inputs(const Settings& s) {
  std::vector<FileStamp> out;
  auto add = [&out](const std::string& path) {
    if (path.empty()) return;
    FileStamp f;
    f.path = path;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      f.exists = true;
      f.dev = st.st_dev;
      f.ino = st.st_ino;
      f.size = st.st_size;
      f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    out.push_back(std::move(f));
  };
  for (const CertKey& ck : s.certs) {
    add(ck.cert);
    add(ck.key);
  }
  add(s.dhparam);
  add(s.client_certificate);
  add(s.trusted_certificate);
  add(s.crl);
  add(s.stapling_file);
  for (const std::string& f : s.ticket_key_files) add(f);
  return out;
}

Context::~Context() {
  SSL_CTX_free(ctx_);
}

// The SSL_CTX both sides start from: nginx's options (ngx_ssl_create), the protocols of the
// settings, and partial writes into moving buffers; idle connections give their 34 KiB of
// record buffers back.
bool Context::create(const SSL_METHOD* method, std::vector<BuildError>* errors) {
  ERR_clear_error();
  ctx_ = SSL_CTX_new_ex(nullptr, nullptr, method);
  if (!ctx_) {
    errors->push_back({fmt::format("SSL_CTX_new() failed{}", ssl_error_text()), {}});
    return false;
  }
  SSL_CTX_set_ex_data(ctx_, g_ctx_index, this);
  const uint32_t p = settings_.protocols;
  SSL_CTX_set_options(ctx_, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                                SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_clear_options(
      ctx_, SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  if (!(p & kTLSv1)) SSL_CTX_set_options(ctx_, SSL_OP_NO_TLSv1);
  if (!(p & kTLSv1_1)) SSL_CTX_set_options(ctx_, SSL_OP_NO_TLSv1_1);
  if (!(p & kTLSv1_2)) SSL_CTX_set_options(ctx_, SSL_OP_NO_TLSv1_2);
  if (!(p & kTLSv1_3)) SSL_CTX_set_options(ctx_, SSL_OP_NO_TLSv1_3);
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return true;
}

std::shared_ptr<const Context> Context::build_client(const Settings& s,
                                                     std::vector<BuildError>* errors) {
  init_globals();
  std::shared_ptr<Context> c(new Context());
  c->settings_ = s;
  c->client_ = true;
  if (!c->load_client(errors)) return nullptr;
  return c;
}

bool Context::load_client(std::vector<BuildError>* errors) {
  const Settings& s = settings_;
  const size_t before = errors->size();
  if (!create(TLS_client_method(), errors)) return false;
  for (const CertKey& ck : s.certs)
    if (!load_cert_pair(ctx_, ck, s.passwords, errors)) return false;
  const Origin at = s.certs.empty() ? s.verify_at : s.certs[0].at;
  if (SSL_CTX_set_cipher_list(ctx_, s.ciphers.c_str()) != 1)
    errors->push_back(err_at(
        at, fmt::format("SSL_CTX_set_cipher_list(\"{}\") failed{}", s.ciphers, ssl_error_text())));
  if (!s.trusted_certificate.empty() &&
      SSL_CTX_load_verify_locations(ctx_, s.trusted_certificate.c_str(), nullptr) != 1)
    errors->push_back(err_at(s.verify_at, fmt::format("SSL_CTX_load_verify_locations(\"{}\") "
                                                      "failed{}",
                                                      s.trusted_certificate, ssl_error_text())));
  if (!s.crl.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (!lookup || X509_LOOKUP_load_file(lookup, s.crl.c_str(), X509_FILETYPE_PEM) != 1)
      errors->push_back(err_at(s.verify_at, fmt::format("X509_LOOKUP_load_file(\"{}\") failed{}",
                                                        s.crl, ssl_error_text())));
    else
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  SSL_CTX_set_verify_depth(ctx_, s.verify_depth);
  // Sessions to reuse are kept per upstream peer by the caller (Session's reuse slot).
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  Session::install_client_callbacks(ctx_);
  apply_conf_commands(errors, at);
  ERR_clear_error();
  return errors->size() == before;
}

void Context::apply_conf_commands(std::vector<BuildError>* errors, const Origin& at) {
  const Settings& s = settings_;
  if (s.conf_commands.empty()) return;
  SSL_CONF_CTX* cctx = SSL_CONF_CTX_new();
  SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE |
                                   (client_ ? SSL_CONF_FLAG_CLIENT : SSL_CONF_FLAG_SERVER) |
                                   SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
  SSL_CONF_CTX_set_ssl_ctx(cctx, ctx_);
  for (size_t i = 0; i < s.conf_commands.size(); ++i) {
    const auto& [k, v] = s.conf_commands[i];
    if (SSL_CONF_cmd(cctx, k.c_str(), v.c_str()) <= 0)
      errors->push_back(
          err_at(i < s.conf_commands_at.size() ? s.conf_commands_at[i] : at,
                 fmt::format("SSL_CONF_cmd(\"{}\", \"{}\") failed{}", k, v, ssl_error_text())));
  }
  SSL_CONF_CTX_finish(cctx);
  SSL_CONF_CTX_free(cctx);
}

std::shared_ptr<const Context> Context::build(const Settings& s, const void* owner,
                                              std::vector<BuildError>* errors) {
  init_globals();
  std::shared_ptr<Context> c(new Context());
  c->settings_ = s;
  c->owner_ = owner;
  c->inputs_ = stamp_inputs(s);  // before reading: a change while loading shows next time
  if (!c->load(errors)) return nullptr;
  return c;
}

bool Context::load(std::vector<BuildError>* errors) {
  const Settings& s = settings_;
  const size_t before = errors->size();
  if (!create(TLS_server_method(), errors)) return false;
  if (s.prefer_server_ciphers) SSL_CTX_set_options(ctx_, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_read_ahead(ctx_, 1);

  for (const CertKey& ck : s.certs)
    if (!load_cert_pair(ctx_, ck, s.passwords, errors, &cert_info_)) return false;

  const Origin at = s.certs.empty() ? Origin{} : s.certs[0].at;
  if (SSL_CTX_set_cipher_list(ctx_, s.ciphers.c_str()) != 1)
    errors->push_back(err_at(
        at, fmt::format("SSL_CTX_set_cipher_list(\"{}\") failed{}", s.ciphers, ssl_error_text())));
  if (s.ecdh_curve != "auto" && SSL_CTX_set1_groups_list(ctx_, s.ecdh_curve.c_str()) != 1)
    errors->push_back(err_at(at, fmt::format("SSL_CTX_set1_curves_list(\"{}\") failed{}",
                                             s.ecdh_curve, ssl_error_text())));
  if (!s.dhparam.empty()) {
    Bio bio{BIO_new_file(s.dhparam.c_str(), "r")};
    EVP_PKEY* dh = bio.b ? PEM_read_bio_Parameters(bio.b, nullptr) : nullptr;
    if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx_, dh) != 1) {
      if (dh) EVP_PKEY_free(dh);
      errors->push_back(err_at(s.dhparam_at, fmt::format("PEM_read_bio_DHparams(\"{}\") "
                                                         "failed{}",
                                                         s.dhparam, ssl_error_text())));
    }
  }

  // Client certificates.
  if (s.verify != Settings::Verify::kOff) {
    if (s.client_certificate.empty() && s.verify != Settings::Verify::kOptionalNoCa)
      errors->push_back(err_at(at, "no ssl_client_certificate for ssl_verify_client"));
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, verify_accept);
    SSL_CTX_set_verify_depth(ctx_, s.verify_depth);
  }
  if (!s.client_certificate.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, s.client_certificate.c_str(), nullptr) != 1) {
      errors->push_back(err_at(s.verify_at, fmt::format("SSL_CTX_load_verify_locations(\"{}\") "
                                                        "failed{}",
                                                        s.client_certificate, ssl_error_text())));
    } else if (s.verify != Settings::Verify::kOptionalNoCa || true) {
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_certificate.c_str());
      if (names) SSL_CTX_set_client_CA_list(ctx_, names);
      ERR_clear_error();
    }
  }
  if (!s.trusted_certificate.empty() &&
      SSL_CTX_load_verify_locations(ctx_, s.trusted_certificate.c_str(), nullptr) != 1)
    errors->push_back(err_at(s.verify_at, fmt::format("SSL_CTX_load_verify_locations(\"{}\") "
                                                      "failed{}",
                                                      s.trusted_certificate, ssl_error_text())));
  if (!s.crl.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (!lookup || X509_LOOKUP_load_file(lookup, s.crl.c_str(), X509_FILETYPE_PEM) != 1) {
      errors->push_back(err_at(s.verify_at, fmt::format("X509_LOOKUP_load_file(\"{}\") failed{}",
                                                        s.crl, ssl_error_text())));
    } else {
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
  }

  // Sessions: cache, timeout, tickets.
  set_session_id_context(ctx_, s);
  switch (s.cache) {
    case Settings::Cache::kOff:
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
      break;
    case Settings::Cache::kNone:
      // As nginx: say sessions may be reused (some clients misbehave otherwise), keep none.
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR |
                                               SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_cache_size(ctx_, 1);
      break;
    case Settings::Cache::kBuiltin:
    case Settings::Cache::kShared:
      // One context serves every worker thread: its cache is shared by all of them.
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER);
      SSL_CTX_sess_set_cache_size(ctx_, long(std::max<uint64_t>(s.cache_sessions, 1)));
      break;
  }
  SSL_CTX_set_timeout(ctx_, long(s.session_timeout_s));
  if (!s.session_tickets) {
    SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
  } else {
    for (const std::string& f : s.ticket_key_files) {
      TicketKey k;
      if (load_ticket_key_file(f, s.ticket_keys_at, &k, errors)) ticket_keys_.push_back(k);
    }
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_, ticket_cb);
  }

  if (!s.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx_, alpn_select, this);
  if (!s.stapling_file.empty()) {
    if (!read_file(s.stapling_file, &stapling_))
      errors->push_back(err_at(
          at, fmt::format("open(\"{}\") failed ({})", s.stapling_file, std::strerror(errno))));
    SSL_CTX_set_tlsext_status_cb(ctx_, status_cb);
  }
  Session::install_callbacks(ctx_);

  // ssl_conf_command last, so it overrides what the directives set (as nginx).
  apply_conf_commands(errors, at);
  ERR_clear_error();
  return errors->size() == before;
}

}  // namespace portico::tls
