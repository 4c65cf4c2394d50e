// tls::Context: one server's OpenSSL context (SSL_CTX) built from tls::Settings: its
// certificates (RSA and ECDSA side by side, with chains), protocols, ciphers, session cache and
// tickets, client verification. Built on the control thread at load and reload, immutable
// afterwards, and shared by every worker's connections through shared_ptr (a connection keeps
// the context it handshook with alive across reloads).
//
// Session tickets: with no ssl_session_ticket_key, the keys are derived from a process-wide
// random secret and the current epoch (time / ssl_session_timeout): every worker and every
// context of the process computes the same keys without sharing any mutable state, the keys
// rotate on their own each epoch, a ticket of the previous epoch is still accepted (and
// renewed), and tickets survive a reload. With ssl_session_ticket_key files the first key
// encrypts and all decrypt, as nginx.
//
// OpenSSL 3.0 and threads: the context fetches its algorithms once when it is built
// (SSL_CTX_new_ex), so handshakes do not fetch again.
//
// A context remembers the files it was built from (FileStamp: device, inode, size, mtime) so a
// ContextSlot (tls/slot.h) can tell when a certificate, key, CA, CRL or stapling file changed on
// disk, and what its certificates say (CertInfo: subject, expiry) for the status pages.
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tls/settings.h"

namespace portico::tls {

struct BuildError {
  std::string message;  // in nginx's words
  Origin at;
};

// One input file as it was when a context was built from it (the path's target: a symlink
// switched to a new file, as certbot does, is a change).
struct FileStamp {
  std::string path;
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// What one of the context's certificates says.
struct CertInfo {
  std::string file;       // ssl_certificate
  std::string subject;    // the subject's CN, else the whole subject in one line
  std::string key;        // "RSA 2048", "EC prime256v1", ...
  int64_t not_after = 0;  // seconds since the epoch
};

class Context : public std::enable_shared_from_this<Context> {
 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Builds the context for `s`; null with *errors appended when something cannot be loaded.
  // `owner` is an opaque pointer the protocol module uses to find its server again.
  static std::shared_ptr<const Context> build(const Settings& s, const void* owner,
                                              std::vector<BuildError>* errors);
  // A client context (proxy_ssl_*: to TLS upstreams): protocols, ciphers, a client certificate,
  // trusted CAs and CRL for verification, conf commands; sessions are kept by the caller.
  static std::shared_ptr<const Context> build_client(const Settings& s,
                                                     std::vector<BuildError>* errors);
  bool is_client() const { return client_; }

  SSL_CTX* native() const { return ctx_; }
  const Settings& settings() const { return settings_; }
  const void* owner() const { return owner_; }
  // Whether the context has at least one certificate (else only ssl_reject_handshake).
  bool has_certificate() const { return !settings_.certs.empty(); }

  struct TicketKey {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
    size_t hmac_len;  // 16 or 32
    size_t aes_len;   // 16 (AES-128-CBC) or 32 (AES-256-CBC)
  };
  const std::vector<TicketKey>& ticket_keys() const { return ticket_keys_; }
  const std::string& stapling() const { return stapling_; }
  const std::vector<CertInfo>& certificates() const { return cert_info_; }
  // The files the context was built from, stamped before they were read.
  const std::vector<FileStamp>& inputs() const { return inputs_; }
  // The files `s` reads (certificates, keys, password, dhparam, CAs, CRL, stapling and ticket
  // key files), as they are on disk now.
  static std::vector<FileStamp> stamp_inputs(const Settings& s);

 private:
  Context() = default;
  bool create(const SSL_METHOD* method, std::vector<BuildError>* errors);
  bool load(std::vector<BuildError>* errors);
  bool load_client(std::vector<BuildError>* errors);
  void apply_conf_commands(std::vector<BuildError>* errors, const Origin& at);

  SSL_CTX* ctx_ = nullptr;
  Settings settings_;
  const void* owner_ = nullptr;
  bool client_ = false;
  std::vector<TicketKey> ticket_keys_;
  std::string stapling_;  // DER OCSP response (ssl_stapling_file)
  std::vector<CertInfo> cert_info_;
  std::vector<FileStamp> inputs_;
};

// OpenSSL's queued errors in nginx's form: " (SSL: error:...:reason)" or "" when none; clears
// the queue.
std::string ssl_error_text();

// Derives the automatic ticket key of `epoch` for a rotation period of `period_s` (exposed for
// tests: the same inputs give the same key on every thread).
Context::TicketKey derived_ticket_key(uint64_t period_s, uint64_t epoch);

}  // namespace portico::tls
