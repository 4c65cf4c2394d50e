// Configuration of the proxy module: the inheritable proxy_* settings of a location and its
// proxy_pass target. Built with the snapshot (proxy/directives.cpp), read-only afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/regex.h"
#include "core/sockaddr.h"
#include "http/module.h"
#include "http/variables.h"
#include "proxy/cookie_rewrite.h"
#include "tls/context.h"
#include "tls/directives.h"
#include "tls/settings.h"
#include "upstream/upstream_conf.h"

namespace portico::proxy {

// proxy_next_upstream conditions (bit set).
enum NextUpstream : uint32_t {
  kNextError = 1u << 0,
  kNextTimeout = 1u << 1,
  kNextInvalidHeader = 1u << 2,
  kNextHttp500 = 1u << 3,
  kNextHttp502 = 1u << 4,
  kNextHttp503 = 1u << 5,
  kNextHttp504 = 1u << 6,
  kNextHttp403 = 1u << 7,
  kNextHttp404 = 1u << 8,
  kNextHttp429 = 1u << 9,
  kNextNonIdempotent = 1u << 10,
};

struct SetHeader {
  std::string name;
  std::string lname;  // lowercased, for matching client headers
  http::ComplexValue value;
};

struct Redirect {
  std::shared_ptr<const Regex> regex;  // `proxy_redirect ~regex replacement`
  http::ComplexValue from;
  http::ComplexValue to;
  bool is_default = false;  // `proxy_redirect default`: computed from proxy_pass per location
};

struct ProxyPass;

extern http::Module proxy_module;

// The proxy module's location settings: proxy_* directives inherited http -> server ->
// location (nginx merges them the same way), and the location's own proxy_pass.
struct ProxyConf : http::ModuleConfOf<ProxyConf> {
  static http::Module& module() { return proxy_module; }
  // This location's proxy_pass (an `if` inside it inherits it); null elsewhere.
  std::shared_ptr<const ProxyPass> pass;
  std::vector<SetHeader> set_headers;     // with nginx's defaults (Host, Connection) merged in
  std::vector<std::string> hide_headers;  // lowercased, defaults included
  std::vector<std::string> pass_headers;  // lowercased
  bool pass_request_headers = true;
  bool pass_request_body = true;
  int http_minor = 0;  // proxy_http_version 1.0 (nginx's default) or 1.1
  http::ComplexValue method;
  bool has_method = false;
  // proxy_set_body: the body sent instead of the client's (which is read and dropped).
  http::ComplexValue set_body;
  bool has_set_body = false;
  // proxy_buffering on: when the client reads slower than the upstream answers, the response
  // is held in proxy_buffers (memory), then a temporary file of up to max_temp_file_size, so
  // the upstream connection (and the app process behind it) is freed as early as possible.
  bool buffering = true;
  bool request_buffering = true;
  size_t buffer_size = 4096;  // largest response head
  uint32_t buffers_num = 8;
  size_t buffers_size = 4096;
  uint64_t max_temp_file_size = 1024ull * 1024 * 1024;
  std::string temp_path;  // proxy_temp_path; empty = PREFIX/proxy_temp
  bool ignore_client_abort = false;
  bool socket_keepalive = false;  // proxy_socket_keepalive: SO_KEEPALIVE on upstream sockets
  // proxy_bind ADDRESS[:PORT] [transparent]: the local address of upstream sockets, with
  // variables evaluated per attempt (an empty value binds nothing).
  bool has_bind = false;
  http::ComplexValue bind;
  bool bind_transparent = false;
  bool ignore_x_accel_buffering = false;   // proxy_ignore_headers X-Accel-Buffering
  bool ignore_x_accel_redirect = false;    // proxy_ignore_headers X-Accel-Redirect
  bool ignore_x_accel_limit_rate = false;  // proxy_ignore_headers X-Accel-Limit-Rate
  // proxy_limit_rate: bytes per second read from the upstream (0: unlimited).
  uint64_t limit_rate = 0;
  uint64_t connect_timeout_ms = 60'000;
  uint64_t send_timeout_ms = 60'000;
  uint64_t read_timeout_ms = 60'000;
  uint32_t next_upstream = kNextError | kNextTimeout;
  uint32_t next_upstream_tries = 0;  // 0 = the group's peer count
  uint64_t next_upstream_timeout_ms = 0;
  bool intercept_errors = false;
  bool redirect_off = false;
  std::vector<Redirect> redirects;  // empty + !off = default
  // proxy_cookie_domain / proxy_cookie_path rules (empty: Set-Cookie passes untouched).
  std::vector<CookieRule> cookie_domains;
  std::vector<CookieRule> cookie_paths;

  // proxy_ssl_*: TLS to the upstream (proxy_pass https://).
  // As written (src/tls/directives.cpp parses them; stream's proxy_ssl_* too).
  tls::Written ssl{.s = {.protocols = tls::kTLSv1_2 | tls::kTLSv1_3, .ciphers = "DEFAULT"}};
  bool ssl_server_name = false;  // send SNI
  bool ssl_verify = false;
  bool ssl_session_reuse = true;
  bool has_ssl_name = false;
  http::ComplexValue ssl_name;  // proxy_ssl_name; default: the host of $proxy_host
  // Built for a location whose proxy_pass may be https.
  std::shared_ptr<const tls::Context> ssl_ctx;
};

// A location's `proxy_pass`.
struct ProxyPass {
  std::shared_ptr<const upstream::UpstreamConf> upstream;  // null when the URL has variables
  http::ComplexValue url;  // the URL with variables (evaluated per request)
  bool has_variables = false;
  bool ssl = false;        // https:// (with variables: the URL decides per request)
  std::string proxy_host;  // $proxy_host: "host:port" as written ("backend" for an upstream)
  std::string proxy_port;  // $proxy_port
  bool has_uri = false;    // a URI part was given ("http://b/app/" has "/app/")
  std::string uri;
  std::string location;  // the location's prefix, replaced by `uri`
};

// nginx's default proxy_hide_header list (plus what portico generates itself).
const std::vector<std::string>& default_hide_headers();

}  // namespace portico::proxy
