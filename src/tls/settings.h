// tls::Settings: what one server's TLS context is built from (nginx's ngx_http_ssl_srv_conf_t
// as plain data): certificates, protocols, ciphers, sessions, client verification. Filled by
// the protocol module's directives (http's ssl module), built into a Context on the control
// thread at load and reload. Paths are absolute (resolved against -p by the module).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::tls {

// Protocol bits for Settings::protocols.
inline constexpr uint32_t kTLSv1 = 1u << 0;
inline constexpr uint32_t kTLSv1_1 = 1u << 1;
inline constexpr uint32_t kTLSv1_2 = 1u << 2;
inline constexpr uint32_t kTLSv1_3 = 1u << 3;

// One name of `ssl_protocols` / `proxy_ssl_protocols` ORed into *bits. SSLv2 and SSLv3 are
// accepted and never enabled (OpenSSL 3 has neither). False for a name nginx does not know.
inline bool add_protocol(std::string_view name, uint32_t* bits) {
  if (name == "SSLv2" || name == "SSLv3") return true;
  if (name == "TLSv1")
    *bits |= kTLSv1;
  else if (name == "TLSv1.1")
    *bits |= kTLSv1_1;
  else if (name == "TLSv1.2")
    *bits |= kTLSv1_2;
  else if (name == "TLSv1.3")
    *bits |= kTLSv1_3;
  else
    return false;
  return true;
}

// Where a setting was written, for errors in nginx's words with file:line.
struct Origin {
  std::string file;
  int line = 0;
};

struct CertKey {
  std::string cert;  // PEM: the certificate, then its chain
  std::string key;   // PEM private key (encrypted keys: Settings::passwords)
  Origin at;         // the ssl_certificate directive
};

struct Settings {
  enum class Verify : uint8_t { kOff, kOn, kOptional, kOptionalNoCa };
  enum class Cache : uint8_t { kOff, kNone, kBuiltin, kShared };

  std::vector<CertKey> certs;
  std::vector<std::string> passwords;  // ssl_password_file's lines, tried in order
  Origin passwords_at;
  uint32_t protocols = kTLSv1_2 | kTLSv1_3;
  std::string ciphers = "HIGH:!aNULL:!MD5";
  std::string ecdh_curve = "auto";
  bool prefer_server_ciphers = false;
  std::vector<std::pair<std::string, std::string>> conf_commands;
  std::vector<Origin> conf_commands_at;
  std::string dhparam;
  Origin dhparam_at;
  Cache cache = Cache::kNone;
  uint64_t cache_sessions = 0;  // builtin:N, or shared:NAME:SIZE as SIZE / 256
  uint64_t session_timeout_s = 300;
  bool session_tickets = true;
  std::vector<std::string> ticket_key_files;  // 48- or 80-byte files; the first encrypts
  Origin ticket_keys_at;
  size_t buffer_size = 16384;
  Verify verify = Verify::kOff;
  int verify_depth = 1;
  std::string client_certificate;
  std::string trusted_certificate;
  std::string crl;
  Origin verify_at;  // ssl_client_certificate / ssl_trusted_certificate / ssl_crl
  bool reject_handshake = false;
  bool early_data = false;
  std::string stapling_file;
  // ALPN protocols the server accepts, in preference order ("http/1.1"; h2 plugs in here).
  std::vector<std::string> alpn;
};

}  // namespace portico::tls
