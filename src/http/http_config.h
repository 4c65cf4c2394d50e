// The http{} part of a configuration snapshot: servers, locations and their settings, already
// merged the nginx way (http -> server -> location -> nested location -> if). Built by
// http/directives.cpp from the syntax tree, immutable afterwards and shared by all workers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/regex.h"
#include "http/location_matcher.h"
#include "http/map.h"
#include "http/realip.h"
#include "http/server_name.h"
#include "http/variables.h"
#include "obs/access_log.h"
#include "proxy/health_check.h"
#include "proxy/proxy_conf.h"

namespace portico::http {

struct LocationConf;
struct ServerConf;

// Extension -> MIME type, looked up with a string_view key without building a string.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TypesMap = std::unordered_map<std::string, std::string, TransparentHash, std::equal_to<>>;

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
};

// One allow/deny rule.
struct AccessRule {
  bool allow = false;
  bool all = false;
  int family = AF_INET;
  std::array<uint8_t, 16> addr{};
  std::array<uint8_t, 16> mask{};
};

struct ErrorPage {
  std::vector<int> codes;
  int overwrite = -1;  // -1: keep status; 0: "=" (use the page's status); >0: that status
  ComplexValue uri;
};

struct AddHeader {
  std::string name;
  ComplexValue value;
  bool always = false;
};

struct AccessLog {
  std::shared_ptr<obs::LogFile> file;
  const obs::LogFormat* format = nullptr;
};

struct TryFiles {
  std::vector<ComplexValue> files;  // all but the last; a trailing '/' means "a directory"
  ComplexValue fallback;            // uri, @named or =CODE
  int fallback_code = 0;
};

// One compiled rewrite-module instruction (return, rewrite, set, if, break).
struct RewriteOp;
using RewriteScript = std::vector<RewriteOp>;

// Named regex groups that set variables: (group index, user variable index).
using NamedCaptures = std::vector<std::pair<int, int>>;

struct IfCondition {
  enum class Kind : uint8_t {
    kTrue,
    kEq,
    kNe,
    kMatch,
    kNotMatch,
    kFile,
    kNotFile,
    kDir,
    kNotDir,
    kExists,
    kNotExists,
    kExec,
    kNotExec
  } kind = Kind::kTrue;
  ComplexValue lhs;
  ComplexValue rhs;
  std::unique_ptr<Regex> regex;
  NamedCaptures named;
};

struct RewriteOp {
  enum class Kind : uint8_t { kReturn, kRewrite, kSet, kIf, kBreak } kind;
  // kReturn
  int code = 0;
  ComplexValue text;  // body text or URL; empty = none
  bool has_text = false;
  // kRewrite
  std::unique_ptr<Regex> regex;
  NamedCaptures named;
  ComplexValue replacement;
  enum class Flag : uint8_t { kNone, kLast, kBreak, kRedirect, kPermanent } flag = Flag::kNone;
  bool redirect_url = false;  // replacement starts with http://, https:// or $scheme
  bool keep_args = true;      // replacement not ending in '?'
  // kSet
  int var_index = -1;
  // kIf
  IfCondition cond;
  const LocationConf* if_loc = nullptr;  // settings that apply while inside the if
  std::unique_ptr<RewriteScript> body;
};

enum class IfModifiedSince : uint8_t { kOff, kExact, kBefore };

// Location-level settings (nginx's loc conf). Every field has its nginx default; merging copies
// unset fields from the parent. `set_` bits are used only while building.
struct LocationConf {
  std::string name;  // the location's pattern, for logs
  const ServerConf* server = nullptr;

  // Content
  ComplexValue root;  // root or alias path
  bool alias = false;
  size_t alias_prefix_len = 0;  // length of the location prefix the alias replaces
  bool alias_regex = false;     // alias in a regex location: alias is the full path
  std::vector<ComplexValue> index{ComplexValue::literal_value("index.html")};
  std::unique_ptr<TryFiles> try_files;
  RewriteScript script;
  std::string default_type = "text/plain";
  const TypesMap* types = nullptr;  // ext -> type
  std::vector<ErrorPage> error_pages;
  std::vector<AddHeader> add_headers;
  std::vector<AccessRule> access;
  RealIpConf realip;                   // set_real_ip_from, real_ip_header, real_ip_recursive
  std::vector<AccessLog> access_logs;  // empty = off
  bool internal = false;
  NamedCaptures named_captures;                        // regex location's named groups
  proxy::ProxySettings proxy;                          // proxy_* settings (inherited)
  std::shared_ptr<const proxy::ProxyPass> proxy_pass;  // this location's proxy_pass, if any

  // Behaviour switches
  bool sendfile = false;
  bool tcp_nopush = false;
  // expires (ngx_http_headers_module): Expires and Cache-Control for successful responses.
  struct Expires {
    enum class Kind : uint8_t { kOff, kEpoch, kMax, kAccess, kModified, kDaily };
    Kind kind = Kind::kOff;
    int64_t seconds = 0;  // kAccess/kModified: offset; kDaily: time of day
  } expires;
  bool chunked_transfer_encoding = true;  // off: a response of unknown length ends the connection
  bool tcp_nodelay = true;
  bool etag = true;
  bool server_tokens = true;
  bool log_not_found = true;
  bool recursive_error_pages = false;
  bool absolute_redirect = true;
  bool port_in_redirect = true;
  bool server_name_in_redirect = false;
  bool merge_slashes = true;
  bool msie_padding = false;
  IfModifiedSince if_modified_since = IfModifiedSince::kExact;
  uint32_t max_ranges = UINT32_MAX;

  // Limits and timeouts (ms)
  uint64_t keepalive_timeout = 75'000;
  int64_t keepalive_header = -1;  // seconds for "Keep-Alive: timeout=N"; -1 = no header
  uint64_t keepalive_requests = 1000;
  uint64_t client_body_timeout = 60'000;
  uint64_t send_timeout = 60'000;
  uint64_t client_max_body_size = 1 << 20;

  // Nested locations of this location (nginx allows nesting).
  std::vector<std::unique_ptr<LocationConf>> children;
};

struct ServerConf {
  std::vector<std::string> names;  // as written; names[0] is $server_name
  std::string primary_name;
  const LocationConf* loc = nullptr;  // server-level settings (requests matching no location)
  std::unique_ptr<LocationConf> own_loc;
  std::vector<std::unique_ptr<LocationConf>> locations;  // top-level and nested, for ownership
  LocationMatcher matcher;
  RewriteScript script;  // server-level rewrite directives
  uint64_t client_header_timeout = 60'000;
  size_t client_header_buffer_size = 1024;
  size_t large_client_header_buffers_num = 4;
  size_t large_client_header_buffers_size = 8192;
  std::string file;
  int line = 0;
};

// The servers that share one listen address, and how to choose among them.
struct AddrConf {
  ListenAddr listen;
  const ServerConf* default_server = nullptr;
  ServerNameMatcher names;
  std::vector<const ServerConf*> servers;
};

struct HttpConf {
  std::vector<std::unique_ptr<ServerConf>> servers;
  std::vector<std::unique_ptr<AddrConf>> addrs;
  std::vector<std::unique_ptr<TypesMap>> types_tables;
  std::vector<std::unique_ptr<obs::LogFormat>> log_formats;
  VariableTable vars;
  // Upstream groups: `upstream` blocks by name, implicit ones (proxy_pass http://host:port) by
  // "\x01host:port". A reload hands these to the new snapshot's builder to keep peer state.
  std::map<std::string, std::shared_ptr<const proxy::UpstreamConf>> upstreams;
  std::vector<std::unique_ptr<MapConf>> maps;
  std::map<std::string, std::shared_ptr<const proxy::MatchConf>> matches;
  std::vector<std::shared_ptr<const proxy::HealthCheckConf>> health_checks;
  std::vector<std::unique_ptr<LocationConf>> extra_locs;  // if-locations
};

}  // namespace portico::http
