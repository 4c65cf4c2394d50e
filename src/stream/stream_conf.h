// The stream{} part of a configuration snapshot: TCP (L4) proxy servers, as nginx's stream
// module. Built by stream/directives.cpp, immutable afterwards, shared by all workers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/listen.h"
#include "core/access_rule.h"
#include "core/limit_zone.h"
#include "core/log.h"
#include "core/log_file.h"
#include "tls/context.h"
#include "tls/slot.h"
#include "upstream/upstream_conf.h"

namespace portico::stream {

// A stream log_format (or another value with variables: a `hash` key), compiled: literal text
// and the variables the stream module knows.
struct LogFormat {
  enum class Var : uint8_t {
    kLiteral,
    kRemoteAddr,
    kBinaryRemoteAddr,
    kRemotePort,
    kServerAddr,
    kServerPort,
    kUpstreamAddr,
    kBytesSent,
    kBytesReceived,
    kUpstreamBytesSent,
    kUpstreamBytesReceived,
    kSessionTime,
    kStatus,
    kTimeLocal,
    kTimeIso8601,
    kMsec,
    kConnection,
    kProtocol,
    kUpstreamConnectTime,
    kPid,
    kHostname,
    kNginxVersion,
    kProxyProtocolAddr,
    kProxyProtocolPort,
    kProxyProtocolServerAddr,
    kProxyProtocolServerPort,
    kProxyProtocolTlv,  // text: the TLV's name
    kRealipRemoteAddr,
    kRealipRemotePort,
    kSsl  // $ssl_*: index names it in tls::kVariableNames
  };
  struct Part {
    Var var;
    std::string text;
    uint16_t index = 0;
  };
  std::string name;
  std::vector<Part> parts;
};

struct AccessLog {
  std::shared_ptr<LogFile> file;
  const LogFormat* format = nullptr;
};

// A stream limit_conn_zone: the key compiled with the stream variables and the shared table
// (core/limit_zone.h), kept across a reload that declares it unchanged.
struct ConnZone {
  std::string name;
  std::string key_text;
  uint64_t size = 0;
  LogFormat key;
  std::shared_ptr<LimitConnTable> table;
};

struct ConnLimit {
  const ConnZone* zone;
  uint32_t conn;
};

struct Server {
  std::vector<config::ListenAddr> listens;
  std::shared_ptr<const upstream::UpstreamConf> upstream;
  std::string target;  // proxy_pass as written, for logs
  uint64_t connect_timeout_ms = 60'000;
  uint64_t timeout_ms = 600'000;  // proxy_timeout: idle time between two transfers
  bool half_close = false;        // proxy_half_close
  // proxy_buffer_size: the most moved in one step each way (nginx's buffer; portico splices
  // through a pipe, so it bounds each splice).
  size_t buffer_size = 16 * 1024;
  bool tcp_nodelay = true;  // on the client's and the upstream's sockets
  uint32_t next_upstream_tries = 0;
  uint64_t next_upstream_timeout_ms = 0;  // 0: no limit on the time spent trying servers
  bool next_upstream = true;
  // The upstream's `hash KEY`, compiled with the stream variables; null when it has none.
  std::unique_ptr<const LogFormat> hash_key;
  std::vector<AccessRule> access;
  std::vector<AccessLog> access_logs;
  bool proxy_protocol = false;  // send a PROXY protocol v1 header to the upstream
  // Reading a `listen ... proxy_protocol` header (nginx's stream proxy_protocol_timeout).
  uint64_t proxy_protocol_timeout_ms = 30'000;
  // set_real_ip_from (nginx's stream realip module): from these peers the PROXY protocol
  // header's source becomes the client address. Only `allow` matters in these rules.
  std::vector<AccessRule> realip_from;
  // limit_conn (nginx's stream limit_conn module): sessions per key, before allow/deny.
  std::vector<ConnLimit> conn_limits;
  LogLevel conn_log = LogLevel::kError;
  bool conn_dry_run = false;
  // `listen ... ssl` (nginx's stream ssl module): the server's context, built when one of its
  // addresses is TLS; the handshake runs after allow/deny, within ssl_handshake_timeout. The
  // slot follows the context's files on disk (tls/slot.h), as http's.
  std::shared_ptr<tls::ContextSlot> ssl_ctx;
  uint64_t ssl_handshake_timeout_ms = 60'000;
  // `return VALUE` (nginx's stream return module): sent to the client instead of proxying.
  std::unique_ptr<const LogFormat> return_value;
  // proxy_ssl on: TLS to the upstream (a client context), SNI and name verification as
  // proxy_ssl_server_name / proxy_ssl_verify / proxy_ssl_name (default: proxy_pass's host).
  std::shared_ptr<const tls::Context> proxy_ssl_ctx;
  bool proxy_ssl_server_name = false;
  bool proxy_ssl_verify = false;
  bool proxy_ssl_session_reuse = true;
  std::unique_ptr<const LogFormat> proxy_ssl_name;
  std::string file;
  int line = 0;
};

struct StreamConf {
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::unique_ptr<LogFormat>> log_formats;
  std::map<std::string, std::shared_ptr<const upstream::UpstreamConf>> upstreams;
  std::map<std::string, std::shared_ptr<ConnZone>, std::less<>> conn_zones;
};

}  // namespace portico::stream
