// The ssl_* / proxy_ssl_* argument parser http and stream share: values, nginx's messages, list
// directives replacing what a level inherited, key pairing, and the upstream name helpers.
#include "tls/directives.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace portico::tls {
namespace {

config::Directive dir(std::string name, std::vector<std::string> args, int line = 7) {
  config::Directive d;
  d.name = std::move(name);
  d.args = std::move(args);
  d.quoted.assign(d.args.size(), false);
  d.file = "/etc/portico/portico.conf";
  d.line = line;
  return d;
}

// Applies one directive (its key: the name without "proxy_"); returns the error, "" if none.
std::string apply(Written& w, const config::Directive& d, bool first = true) {
  std::string e;
  const std::string_view key =
      d.name.rfind("proxy_", 0) == 0 ? std::string_view(d.name).substr(6) : d.name;
  const bool ok = apply_directive(d, key, first, "/prefix/", &w, &e);
  EXPECT_EQ(ok, e.empty());
  return e;
}

TEST(TlsDirectives, ProtocolsCiphersAndFlags) {
  Written w;
  EXPECT_EQ(apply(w, dir("ssl_protocols", {"SSLv3", "TLSv1.2", "TLSv1.3"})), "");
  EXPECT_EQ(w.s.protocols, kTLSv1_2 | kTLSv1_3);
  EXPECT_EQ(apply(w, dir("ssl_protocols", {"TLSv1.2", "TLSv9"})), "invalid value \"TLSv9\"");
  EXPECT_EQ(w.s.protocols, kTLSv1_2 | kTLSv1_3);  // unchanged by the bad line
  EXPECT_EQ(apply(w, dir("proxy_ssl_ciphers", {"ECDHE+AESGCM"})), "");
  EXPECT_EQ(w.s.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(apply(w, dir("ssl_session_tickets", {"off"})), "");
  EXPECT_FALSE(w.s.session_tickets);
  EXPECT_EQ(apply(w, dir("ssl_session_tickets", {"maybe"})),
            "invalid value \"maybe\" in \"ssl_session_tickets\" directive, it must be \"on\" or "
            "\"off\"");
  EXPECT_EQ(apply(w, dir("ssl_verify_client", {"optional_no_ca"})), "");
  EXPECT_EQ(w.s.verify, Settings::Verify::kOptionalNoCa);
  EXPECT_EQ(apply(w, dir("ssl_verify_client", {"sometimes"})), "invalid value \"sometimes\"");
  EXPECT_EQ(apply(w, dir("ssl_verify_depth", {"x"})), "invalid number \"x\"");
  EXPECT_EQ(apply(w, dir("ssl_session_timeout", {"10m"})), "");
  EXPECT_EQ(w.s.session_timeout_s, 600u);
  EXPECT_EQ(apply(w, dir("ssl_unknown", {"x"})), "unknown directive \"ssl_unknown\"");
}

TEST(TlsDirectives, SessionCache) {
  Written w;
  EXPECT_EQ(apply(w, dir("ssl_session_cache", {"builtin:1000", "shared:S:1m"})), "");
  EXPECT_EQ(w.s.cache, Settings::Cache::kShared);
  EXPECT_EQ(w.s.cache_sessions, 4096u);
  EXPECT_EQ(apply(w, dir("ssl_session_cache", {"shared:S:1k"})),
            "session cache \"shared:S:1k\" is too small");
  EXPECT_EQ(apply(w, dir("ssl_session_cache", {"builtin:0"})),
            "invalid session cache \"builtin:0\"");
  EXPECT_EQ(apply(w, dir("ssl_session_cache", {"off"})), "");
  EXPECT_EQ(w.s.cache, Settings::Cache::kOff);
}

// A level's first ssl_certificate drops the inherited list; later ones add to it. Paths are
// taken from the prefix; conf commands that name files too.
TEST(TlsDirectives, ListsReplaceInheritedAndPathsUsePrefix) {
  Written w;
  apply(w, dir("ssl_certificate", {"inherited.crt"}));
  apply(w, dir("ssl_certificate_key", {"inherited.key"}));
  Written server = w;
  apply(server, dir("ssl_certificate", {"rsa.crt"}, 10), true);
  apply(server, dir("ssl_certificate", {"/abs/ec.crt"}, 11), false);
  apply(server, dir("ssl_certificate_key", {"rsa.key"}, 12), true);
  ASSERT_EQ(server.s.certs.size(), 2u);
  EXPECT_EQ(server.s.certs[0].cert, "/prefix/rsa.crt");
  EXPECT_EQ(server.s.certs[1].cert, "/abs/ec.crt");
  EXPECT_EQ(server.s.certs[1].at.line, 11);
  // Two certificates, one key: pairing names the second certificate.
  Settings out;
  BuildError e;
  EXPECT_FALSE(pair_keys(server, "ssl_certificate_key", &out, &e));
  EXPECT_EQ(e.message, "no \"ssl_certificate_key\" is defined for certificate \"/abs/ec.crt\"");
  EXPECT_EQ(e.at.line, 11);
  apply(server, dir("ssl_certificate_key", {"ec.key"}), false);
  ASSERT_TRUE(pair_keys(server, "ssl_certificate_key", &out, &e));
  EXPECT_EQ(out.certs[0].key, "/prefix/rsa.key");
  EXPECT_EQ(out.certs[1].key, "/prefix/ec.key");
  apply(server, dir("ssl_conf_command", {"ChainCAFile", "ca.pem"}));
  apply(server, dir("ssl_conf_command", {"Options", "KTLS"}), false);
  ASSERT_EQ(server.s.conf_commands.size(), 2u);
  EXPECT_EQ(server.s.conf_commands[0].second, "/prefix/ca.pem");
  EXPECT_EQ(server.s.conf_commands[1].second, "KTLS");
}

TEST(TlsDirectives, PasswordFile) {
  char path[] = "/tmp/portico-pw-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "wrong\r\n\n  secret \t\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
  Written w;
  EXPECT_EQ(apply(w, dir("ssl_password_file", {path})), "");
  EXPECT_EQ(w.s.passwords, (std::vector<std::string>{"wrong", "  secret"}));
  unlink(path);
  EXPECT_EQ(apply(w, dir("ssl_password_file", {path})),
            "open() \"" + std::string(path) + "\" failed (2: No such file or directory)");
}

TEST(TlsDirectives, ClientContextChecks) {
  Written w;
  apply(w, dir("proxy_ssl_certificate", {"client.crt"}, 20));
  std::vector<BuildError> errs;
  EXPECT_EQ(build_client_context(w, false, &errs), nullptr);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message,
            "no \"proxy_ssl_certificate_key\" is defined for certificate \"/prefix/client.crt\"");
  EXPECT_EQ(errs[0].at.line, 20);
  errs.clear();
  EXPECT_EQ(build_client_context(Written{}, true, &errs), nullptr);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, "no proxy_ssl_trusted_certificate for proxy_ssl_verify");
  errs.clear();
  EXPECT_NE(build_client_context(Written{}, false, &errs), nullptr);
  EXPECT_TRUE(errs.empty());
}

TEST(TlsDirectives, UpstreamNames) {
  std::string n = "[::1]:8443";
  strip_port(n);
  EXPECT_EQ(n, "::1");
  n = "example.com:443";
  strip_port(n);
  EXPECT_EQ(n, "example.com");
  n = "example.com";
  strip_port(n);
  EXPECT_EQ(n, "example.com");
  n = "::1";  // a bare IPv6 address has no port to strip
  strip_port(n);
  EXPECT_EQ(n, "::1");
  EXPECT_TRUE(is_address("127.0.0.1"));
  EXPECT_TRUE(is_address("::1"));
  EXPECT_FALSE(is_address("b.test"));
}

TEST(TlsDirectives, ClientSessionsAreKeyedByPeerAndName) {
  ClientSessions table;
  int peer_a = 0, peer_b = 0;
  SSL_SESSION** a = table.slot(&peer_a, "b.test");
  EXPECT_EQ(*a, nullptr);
  EXPECT_EQ(table.slot(&peer_a, "b.test"), a);
  EXPECT_NE(table.slot(&peer_a, "c.test"), a);
  EXPECT_NE(table.slot(&peer_b, "b.test"), a);
}

}  // namespace
}  // namespace portico::tls
