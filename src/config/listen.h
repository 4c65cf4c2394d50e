// `listen` addresses, shared by http{} and stream{} servers: the parsed address and options of
// one listen directive. Parsed on the control thread while a snapshot is built.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "config/ast.h"

namespace portico::config {

// One `listen` address. Sockets are keyed by `key` (e.g. "127.0.0.1:8080", "[::1]:80",
// "unix:/run/p.sock"), which is what reload diffs on.
struct ListenAddr {
  std::string key;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  bool is_unix = false;
  bool reuseport = false;
  int backlog = 511;
  bool ipv6only = true;
  bool deferred = true;  // TCP_DEFER_ACCEPT; see Runtime
  // Socket options (nginx: one listen directive per address may set them): -1 = not set.
  int rcvbuf = -1;    // SO_RCVBUF
  int sndbuf = -1;    // SO_SNDBUF (accepted connections inherit both)
  int fastopen = -1;  // TCP_FASTOPEN queue length
  // so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt]: 0 not set, 1 on, 2 off; the three
  // times in seconds (0: the system's).
  uint8_t so_keepalive = 0;
  int keepidle = 0, keepintvl = 0, keepcnt = 0;
  bool backlog_set = false;
  // Whether this directive set any socket option (nginx refuses a second one per address).
  bool sockopts_set() const {
    return rcvbuf >= 0 || sndbuf >= 0 || fastopen >= 0 || so_keepalive != 0 || backlog_set ||
           reuseport;
  }
  bool ssl = false;  // `listen ... ssl`: connections start with a TLS handshake
  // `listen ... proxy_protocol`: every connection starts with a PROXY protocol header (before
  // TLS when both are set); a connection without one is closed.
  bool proxy_protocol = false;
  // `listen ... http2` (or `http2 on` in a server of the address): HTTP/2 by ALPN on TLS, by
  // the client preface (h2c, prior knowledge) on plain TCP.
  bool http2 = false;
};

// Parses a `listen` directive's address and parameters (http and stream share the syntax).
// Returns false with nginx's message in *error. A host name is resolved (blocking: config
// time only). `ssl` and `http2` are accepted where the caller terminates them (allow_ssl: http).
bool parse_listen(const Directive& d, ListenAddr* out, bool* default_server, std::string* error,
                  bool allow_ssl = false);

}  // namespace portico::config
