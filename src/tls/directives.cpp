#include "tls/directives.h"

#include <arpa/inet.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include <fmt/format.h>

#include "config/path.h"
#include "config/values.h"
#include "core/log.h"
#include "core/strings.h"
#include "tls/session.h"

namespace portico::tls {

namespace {

Origin at(const config::Directive& d) {
  return {d.file, d.line};
}

using Setter = bool (*)(const config::Directive& d, bool first, const std::string& prefix,
                        Written* w, std::string* error);

bool invalid(const config::Directive& d, std::string* error) {
  *error = fmt::format("\"{}\" directive invalid value", d.name);
  return false;
}

bool set_certificate(const config::Directive& d, bool first, const std::string& prefix, Written* w,
                     std::string*) {
  if (first) w->s.certs.clear();
  w->s.certs.push_back({config::resolve_path(prefix, d.args[0]), {}, at(d)});
  return true;
}

bool set_certificate_key(const config::Directive& d, bool first, const std::string& prefix,
                         Written* w, std::string*) {
  if (first) {
    w->keys.clear();
    w->keys_at.clear();
  }
  w->keys.push_back(config::resolve_path(prefix, d.args[0]));
  w->keys_at.push_back(at(d));
  return true;
}

// One passphrase a line (a FIFO works too: read once, as nginx).
bool set_password_file(const config::Directive& d, bool, const std::string& prefix, Written* w,
                       std::string* error) {
  const std::string path = config::resolve_path(prefix, d.args[0]);
  std::ifstream f(path);
  if (!f) {
    *error = fmt::format("open() \"{}\" failed ({})", path, errno_text(errno));
    return false;
  }
  w->s.passwords.clear();
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) w->s.passwords.push_back(line);
  }
  w->s.passwords_at = at(d);
  if (!w->s.passwords.empty()) return true;
  *error = fmt::format("no passphrases found in \"{}\"", path);
  return false;
}

bool set_protocols(const config::Directive& d, bool, const std::string&, Written* w,
                   std::string* error) {
  uint32_t p = 0;
  for (const std::string& a : d.args) {
    if (tls::add_protocol(a, &p)) continue;
    *error = fmt::format("invalid value \"{}\"", a);
    return false;
  }
  w->s.protocols = p;
  return true;
}

bool set_ciphers(const config::Directive& d, bool, const std::string&, Written* w, std::string*) {
  w->s.ciphers = d.args[0];
  return true;
}

bool set_ecdh_curve(const config::Directive& d, bool, const std::string&, Written* w,
                    std::string*) {
  w->s.ecdh_curve = d.args[0];
  return true;
}

bool set_conf_command(const config::Directive& d, bool first, const std::string& prefix, Written* w,
                      std::string*) {
  Settings& s = w->s;
  if (first) {
    s.conf_commands.clear();
    s.conf_commands_at.clear();
  }
  // File arguments are taken from the prefix, as nginx does for its own file directives.
  static constexpr std::string_view kFileCommands[] = {
      "Certificate",  "PrivateKey",    "ChainCAFile",  "ChainCAPath", "VerifyCAFile",
      "VerifyCAPath", "RequestCAFile", "ClientCAFile", "DHParameters"};
  const bool is_file = std::find(std::begin(kFileCommands), std::end(kFileCommands), d.args[0]) !=
                       std::end(kFileCommands);
  s.conf_commands.emplace_back(d.args[0],
                               is_file ? config::resolve_path(prefix, d.args[1]) : d.args[1]);
  s.conf_commands_at.push_back(at(d));
  return true;
}

bool set_dhparam(const config::Directive& d, bool, const std::string& prefix, Written* w,
                 std::string*) {
  w->s.dhparam = config::resolve_path(prefix, d.args[0]);
  w->s.dhparam_at = at(d);
  return true;
}

// off | none | builtin[:N] | shared:NAME:SIZE (several may be given, as nginx).
bool set_session_cache(const config::Directive& d, bool, const std::string&, Written* w,
                       std::string* error) {
  Settings& s = w->s;
  for (const std::string& a : d.args) {
    if (a == "off") {
      s.cache = Settings::Cache::kOff;
    } else if (a == "none") {
      s.cache = Settings::Cache::kNone;
    } else if (a == "builtin" || a.rfind("builtin:", 0) == 0) {
      uint64_t n = 20480;  // OpenSSL's default cache size
      if (a.size() > 7) {
        auto v = parse_uint(std::string_view(a).substr(8));
        if (!v || *v == 0) {
          *error = fmt::format("invalid session cache \"{}\"", a);
          return false;
        }
        n = *v;
      }
      s.cache = Settings::Cache::kBuiltin;
      s.cache_sessions = std::max(s.cache_sessions, n);
    } else if (a.rfind("shared:", 0) == 0) {
      const size_t colon = a.find(':', 7);
      auto size = colon == std::string::npos || colon == 7
                      ? std::nullopt
                      : parse_size(std::string_view(a).substr(colon + 1));
      if (!size) {
        *error = fmt::format("invalid session cache \"{}\"", a);
        return false;
      }
      if (*size < 8192) {
        *error = fmt::format("session cache \"{}\" is too small", a);
        return false;
      }
      s.cache = Settings::Cache::kShared;
      // nginx: about 4000 sessions per megabyte.
      s.cache_sessions = std::max<uint64_t>(s.cache_sessions, *size / 256);
    } else {
      *error = fmt::format("invalid session cache \"{}\"", a);
      return false;
    }
  }
  return true;
}

bool set_session_timeout(const config::Directive& d, bool, const std::string&, Written* w,
                         std::string* error) {
  auto v = parse_time_ms(d.args[0]);
  if (!v) return invalid(d, error);
  w->s.session_timeout_s = *v / 1000;
  return true;
}

bool set_session_ticket_key(const config::Directive& d, bool first, const std::string& prefix,
                            Written* w, std::string*) {
  if (first) w->s.ticket_key_files.clear();
  w->s.ticket_key_files.push_back(config::resolve_path(prefix, d.args[0]));
  w->s.ticket_keys_at = at(d);
  return true;
}

bool set_buffer_size(const config::Directive& d, bool, const std::string&, Written* w,
                     std::string* error) {
  auto v = parse_size(d.args[0]);
  if (!v) return invalid(d, error);
  w->s.buffer_size = size_t(*v);
  return true;
}

bool set_verify_client(const config::Directive& d, bool, const std::string&, Written* w,
                       std::string* error) {
  using V = Settings::Verify;
  static const std::pair<std::string_view, V> kValues[] = {{"on", V::kOn},
                                                           {"off", V::kOff},
                                                           {"optional", V::kOptional},
                                                           {"optional_no_ca", V::kOptionalNoCa}};
  for (const auto& [name, v] : kValues)
    if (d.args[0] == name) {
      w->s.verify = v;
      return true;
    }
  *error = fmt::format("invalid value \"{}\"", d.args[0]);  // nginx's enum slot
  return false;
}

bool set_verify_depth(const config::Directive& d, bool, const std::string&, Written* w,
                      std::string* error) {
  auto v = parse_uint(d.args[0]);
  if (!v) {
    *error = fmt::format("invalid number \"{}\"", d.args[0]);
    return false;
  }
  w->s.verify_depth = int(*v);
  return true;
}

// A file of CAs or CRLs; verify_at names the directive in errors about it.
template <std::string Settings::*F>
bool set_path(const config::Directive& d, bool, const std::string& prefix, Written* w,
              std::string*) {
  w->s.*F = config::resolve_path(prefix, d.args[0]);
  if (F != &Settings::stapling_file) w->s.verify_at = at(d);
  return true;
}

template <bool Settings::*F>
bool set_bool(const config::Directive& d, bool, const std::string&, Written* w,
              std::string* error) {
  return config::parse_flag(d, &(w->s.*F), error);
}

// ssl_alpn PROTOCOL ... (stream): the protocols offered, in preference order.
bool set_alpn(const config::Directive& d, bool, const std::string&, Written* w,
              std::string* error) {
  w->s.alpn.clear();
  for (const std::string& a : d.args) {
    if (a.empty() || a.size() > 255) {
      *error = fmt::format("ALPN protocol \"{}\" is too long", a);  // nginx's check
      return false;
    }
    w->s.alpn.push_back(a);
  }
  return true;
}

const std::pair<std::string_view, Setter> kSetters[] = {
    {"ssl_certificate", set_certificate},
    {"ssl_certificate_key", set_certificate_key},
    {"ssl_password_file", set_password_file},
    {"ssl_protocols", set_protocols},
    {"ssl_ciphers", set_ciphers},
    {"ssl_ecdh_curve", set_ecdh_curve},
    {"ssl_prefer_server_ciphers", set_bool<&Settings::prefer_server_ciphers>},
    {"ssl_conf_command", set_conf_command},
    {"ssl_dhparam", set_dhparam},
    {"ssl_session_cache", set_session_cache},
    {"ssl_session_timeout", set_session_timeout},
    {"ssl_session_tickets", set_bool<&Settings::session_tickets>},
    {"ssl_session_ticket_key", set_session_ticket_key},
    {"ssl_buffer_size", set_buffer_size},
    {"ssl_verify_client", set_verify_client},
    {"ssl_verify_depth", set_verify_depth},
    {"ssl_client_certificate", set_path<&Settings::client_certificate>},
    {"ssl_trusted_certificate", set_path<&Settings::trusted_certificate>},
    {"ssl_crl", set_path<&Settings::crl>},
    {"ssl_reject_handshake", set_bool<&Settings::reject_handshake>},
    {"ssl_early_data", set_bool<&Settings::early_data>},
    {"ssl_stapling_file", set_path<&Settings::stapling_file>},
    {"ssl_alpn", set_alpn},
};

}  // namespace

bool apply_directive(const config::Directive& d, std::string_view key, bool first,
                     const std::string& prefix, Written* w, std::string* error) {
  for (const auto& [name, set] : kSetters)
    if (name == key) return set(d, first, prefix, w, error);
  *error = fmt::format("unknown directive \"{}\"", d.name);
  return false;
}

bool pair_keys(const Written& w, std::string_view key_directive, Settings* out, BuildError* error) {
  *out = w.s;
  if (w.keys.size() < out->certs.size()) {
    const CertKey& ck = out->certs[w.keys.size()];
    *error = {fmt::format("no \"{}\" is defined for certificate \"{}\"", key_directive, ck.cert),
              ck.at};
    return false;
  }
  for (size_t i = 0; i < out->certs.size(); ++i) out->certs[i].key = w.keys[i];
  return true;
}

std::shared_ptr<const Context> build_client_context(const Written& w, bool verify,
                                                    std::vector<BuildError>* errors) {
  Settings s;
  BuildError e;
  if (!pair_keys(w, "proxy_ssl_certificate_key", &s, &e)) {
    errors->push_back(std::move(e));
    return nullptr;
  }
  if (verify && s.trusted_certificate.empty()) {
    errors->push_back({"no proxy_ssl_trusted_certificate for proxy_ssl_verify", s.verify_at});
    return nullptr;
  }
  return Context::build_client(s, errors);
}

int check_client_certificate(const Session& t, const Settings& s, uint64_t conn_id) {
  SSL* ssl = t.native();
  const long rc = SSL_get_verify_result(ssl);
  const bool optional_error =
      rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
      rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || rc == X509_V_ERR_CERT_UNTRUSTED ||
      rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
  if (rc != X509_V_OK && (s.verify != Settings::Verify::kOptionalNoCa || !optional_error)) {
    PORTICO_LOG(LogLevel::kInfo, conn_id, "client SSL certificate verify error: ({}:{})", rc,
                X509_verify_cert_error_string(rc));
    return 495;
  }
  if (s.verify == Settings::Verify::kOn) {
    X509* c = SSL_get1_peer_certificate(ssl);
    if (!c) {
      PORTICO_LOG(LogLevel::kInfo, conn_id, "client sent no required SSL certificate");
      return 496;
    }
    X509_free(c);
  }
  return 0;
}

void strip_port(std::string& name) {
  if (!name.empty() && name[0] == '[') {
    const size_t close = name.find(']');
    name = name.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (const size_t colon = name.rfind(':');
             colon != std::string::npos && name.find(':') == colon) {
    name.resize(colon);
  }
}

bool is_address(const std::string& name) {
  in6_addr a6;
  return inet_pton(AF_INET, name.c_str(), &a6) == 1 || inet_pton(AF_INET6, name.c_str(), &a6) == 1;
}

SSL_SESSION** ClientSessions::slot(const void* peer, std::string_view name) {
  std::string key(reinterpret_cast<const char*>(&peer), sizeof peer);
  key += name;
  if (sessions_.size() >= 4096 && !sessions_.count(key)) clear();
  return &sessions_.try_emplace(std::move(key), nullptr).first->second;
}

void ClientSessions::clear() {
  for (auto& [k, s] : sessions_)
    if (s) SSL_SESSION_free(s);
  sessions_.clear();
}

}  // namespace portico::tls
