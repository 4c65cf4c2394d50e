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

#include "config/listen.h"
#include "core/access_rule.h"
#include "core/log.h"
#include "core/regex.h"
#include "dns/resolver_conf.h"
#include "http/access_log.h"
#include "http/location_matcher.h"
#include "http/map.h"
#include "http/module.h"
#include "http/realip.h"
#include "http/request_body.h"
#include "http/server_name.h"
#include "http/variables.h"
#include "upstream/upstream_conf.h"

namespace portico::tls {
class ContextSlot;
}

namespace portico::http {

struct LocationConf;
struct ServerConf;

// Extension -> MIME type, looked up with a string_view key without building a string.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TypesMap = std::unordered_map<std::string, std::string, TransparentHash, std::equal_to<>>;

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

class OpenLogCache;

struct AccessLog {
  std::shared_ptr<LogFile> file;  // null when the path has variables
  const LogFormat* format = nullptr;
  // A path with variables, opened for each line (or through open_log_file_cache).
  std::shared_ptr<const ComplexValue> path;
  // if=: no line when it evaluates to "" or "0".
  std::shared_ptr<const ComplexValue> cond;
};

struct TryFiles {
  struct File {
    ComplexValue name;  // without the trailing '/' that asks for a directory
    bool dir = false;   // nginx's test_dir
  };
  std::vector<File> files;  // all but the last
  ComplexValue fallback;    // uri, @named or =CODE
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
  bool sets_limit_rate = false;  // `set $limit_rate`: the response's rate, not a user variable
  // kIf
  IfCondition cond;
  const LocationConf* if_loc = nullptr;  // settings that apply while inside the if
  std::unique_ptr<RewriteScript> body;
};

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
  std::unique_ptr<TryFiles> try_files;
  RewriteScript script;
  std::string default_type = "text/plain";
  const TypesMap* types = nullptr;  // ext -> type
  std::vector<ErrorPage> error_pages;
  std::vector<AddHeader> add_headers;
  std::vector<AddHeader> add_trailers;  // add_trailer: sent after a chunked or HTTP/2 body
  std::vector<AccessRule> access;
  bool satisfy_any = false;            // `satisfy any`: one allowing access handler is enough
  RealIpConf realip;                   // set_real_ip_from, real_ip_header, real_ip_recursive
  std::vector<AccessLog> access_logs;  // empty = off
  // open_log_file_cache for the access logs whose paths have variables (null: off).
  std::shared_ptr<OpenLogCache> open_log_cache;
  // error_log of this level (null: the process-wide targets).
  std::shared_ptr<const ErrorLogSet> error_log;
  bool internal = false;
  NamedCaptures named_captures;  // regex location's named groups
  // Who produces the response (proxy_pass ...); null: the default content handler (static).
  // Not inherited by nested locations, as nginx's clcf->handler; an `if` block inherits it.
  const ContentHandler* content = nullptr;
  // Each module's settings, by Module::index (every registered module with a conf has one).
  std::vector<std::unique_ptr<ModuleConf>> mods;
  template <class T>
  const T& conf() const {
    return static_cast<const T&>(*mods[size_t(T::module().index)]);
  }

  // Behaviour switches
  bool sendfile = false;
  bool tcp_nopush = false;
  // expires (ngx_http_headers_module): Expires and Cache-Control for successful responses.
  struct Expires {
    // kVariable: `value` is evaluated per response and parsed as the directive's argument
    // would be (`modified` says whether the directive had it).
    enum class Kind : uint8_t { kOff, kEpoch, kMax, kAccess, kModified, kDaily, kVariable };
    Kind kind = Kind::kOff;
    int64_t seconds = 0;  // kAccess/kModified: offset; kDaily: time of day
    bool modified = false;
    ComplexValue value;
  } expires;
  bool chunked_transfer_encoding = true;  // off: a response of unknown length ends the connection
  bool tcp_nodelay = true;
  bool server_tokens = true;
  bool log_not_found = true;
  bool recursive_error_pages = false;
  bool absolute_redirect = true;
  bool port_in_redirect = true;
  bool server_name_in_redirect = false;
  bool merge_slashes = true;
  bool msie_padding = false;

  // Limits and timeouts (ms)
  uint64_t keepalive_timeout = 75'000;
  int64_t keepalive_header = -1;  // seconds for "Keep-Alive: timeout=N"; -1 = no header
  uint64_t keepalive_requests = 1000;
  uint64_t keepalive_time = 3'600'000;  // no new request on a connection older than this
  // keepalive_disable: the browsers (UserAgentFlag bits: kUaMsie6, kUaSafari) whose
  // connections are not kept alive (MSIE 6 after a POST only). Default msie6.
  uint8_t keepalive_disable = 2;
  uint64_t client_body_timeout = 60'000;
  uint64_t send_timeout = 60'000;
  // lingering_close off|on|always: after a response that closes the connection, read and drop
  // what the client still sends (on: only when it may send more), for at most lingering_time,
  // waiting lingering_timeout for each piece.
  enum class Linger : uint8_t { kOff, kOn, kAlways };
  Linger lingering_close = Linger::kOn;
  uint64_t lingering_time = 30'000;
  uint64_t lingering_timeout = 5'000;
  uint64_t client_max_body_size = 1 << 20;
  // client_body_temp_path: where request bodies too large for memory go (named files, as
  // nginx: $request_body_file shows the name); empty: PREFIX/client_body_temp.
  std::string client_body_temp_path;
  // resolver / resolver_timeout: how names computed per request (proxy_pass with variables)
  // are looked up at run time; null: no resolver ("no resolver defined to resolve NAME").
  std::shared_ptr<const dns::ResolverConf> resolver;
  uint64_t resolver_timeout = dns::kDefaultTimeoutMs;
  TempLevels client_body_temp_levels;
  // A request body read whole stays in memory up to this size, else goes to a file.
  uint64_t client_body_buffer_size = 16 * 1024;
  BodyInFile client_body_in_file_only = BodyInFile::kOff;
  bool client_body_in_single_buffer = false;
  // limit_rate / limit_rate_after (complex values, sizes; see http/limit_rate.h).
  ComplexValue limit_rate, limit_rate_after;
  bool has_limit_rate = false,
       has_limit_rate_after = false;  // accepted: a body in memory is always one piece

  // limit_except METHOD ... { }: requests with another method run their access and content
  // phases with `limit_except`'s settings (this location's, plus the block's own). GET
  // includes HEAD. Not inherited by nested locations.
  std::vector<std::string> limit_except_methods;
  const LocationConf* limit_except = nullptr;

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
  // Header names of other than letters, digits and '-' (and '_' with underscores_in_headers)
  // are dropped (on), or kept when still RFC 9110 tokens (off). Names that are no token never
  // reach a handler or an upstream either way.
  bool ignore_invalid_headers = true;
  bool underscores_in_headers = false;
  std::string file;
  int line = 0;
};

// The servers that share one listen address, and how to choose among them.
struct AddrConf {
  config::ListenAddr listen;
  const ServerConf* default_server = nullptr;
  ServerNameMatcher names;
  std::vector<const ServerConf*> servers;
  // `listen ... ssl`: the default server's TLS context (SNI may pick another server's).
  std::shared_ptr<tls::ContextSlot> tls;
};

struct HttpConf {
  std::string prefix;  // -p, with trailing '/'
  std::vector<std::unique_ptr<ServerConf>> servers;
  std::vector<std::unique_ptr<AddrConf>> addrs;
  std::vector<std::unique_ptr<TypesMap>> types_tables;
  std::vector<std::unique_ptr<LogFormat>> log_formats;
  VariableTable vars;
  // Upstream groups: `upstream` blocks by name, implicit ones (proxy_pass http://host:port) by
  // "\x01host:port". A reload hands these to the new snapshot's builder to keep peer state.
  std::map<std::string, std::shared_ptr<const upstream::UpstreamConf>> upstreams;
  // Compiled `hash KEY` of each upstream group that has one (the group keeps the text).
  std::unordered_map<const upstream::Group*, ComplexValue> hash_keys;
  const ComplexValue* hash_key(const upstream::Group* g) const {
    auto it = hash_keys.find(g);
    return it == hash_keys.end() ? nullptr : &it->second;
  }
  std::vector<std::unique_ptr<MapConf>> maps;
  // http-wide settings of modules (nginx's main_conf), by Module::index; null where a module
  // has none.
  std::vector<std::unique_ptr<ModuleConf>> main_mods;
  template <class T>
  const T* main_conf() const {
    size_t i = size_t(T::module().index);
    return i < main_mods.size() ? static_cast<const T*>(main_mods[i].get()) : nullptr;
  }
  std::vector<std::unique_ptr<LocationConf>> extra_locs;  // if-locations
};

}  // namespace portico::http
