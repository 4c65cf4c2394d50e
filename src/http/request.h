// Request: the state of one HTTP request on a connection, from parsed head to logged response.
// Requests are pooled per worker and reused, so their strings and vectors keep their capacity
// and the request path allocates nothing once warm. The head's string_views point into the
// connection's read buffer, which stays put until the request is finished.
// Used only by the worker thread that owns the connection.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/regex.h"
#include "core/sockaddr.h"
#include "http/chunked.h"
#include "http/http_config.h"
#include "http/limit_rate.h"
#include "http/parser.h"
#include "http/request_body.h"

#include "core/file_cache.h"

namespace portico::http {

class BodyFilter;
class Connection;
struct HttpConf;

// One piece of response body: memory or a file range (sent with sendfile).
struct OutChunk {
  const char* data = nullptr;  // memory chunk when fd < 0
  size_t len = 0;
  int fd = -1;
  off_t offset = 0;
};

struct ResponseHeader {
  std::string name;
  std::string value;
};

// The response head event: what content says about its response, codec-independent. The codec
// (http1_writer.cpp's serializer for HTTP/1.1) turns it into bytes, adding Server, Date, the
// framing and Connection, and the location's add_header/expires.
struct Response {
  int status = 0;
  // The status line after the version as an upstream sent it ("200 OK", "403.1 Forbidden"),
  // forwarded verbatim as nginx does; empty: "<status> <reason>".
  std::string_view status_line;
  std::string_view content_type;  // points into config (types) or a literal
  std::string content_type_buf;   // when built per response (multipart)
  int64_t content_length = -1;
  time_t last_modified = -1;
  std::string etag;
  std::string location;
  std::string content_range;
  std::vector<ResponseHeader> headers;  // add_header and handler extras
  size_t header_count = 0;              // valid entries in `headers` (reused storage)
  // Fields passed through from elsewhere (a proxied response's upstream head), in order, as
  // views: valid only until the head is serialized, which clears the list (capacity kept).
  std::vector<Header> fields;
  // Values of `fields` that content rewrote (the proxy's Set-Cookie under proxy_cookie_*),
  // owned here: the first field_value_count are in use; the strings keep their capacity.
  std::vector<std::string> field_values;
  size_t field_value_count = 0;
  // A cleared string for one more owned field value. Its address is stable only until the
  // next call (point views at it once all are made).
  std::string& next_field_value();
  // add_trailer's fields, collected when the body ends (reused storage, as `headers`).
  std::vector<ResponseHeader> trailers;
  size_t trailer_count = 0;
  // The headers filter found an add_trailer for this status: an HTTP/1.1 body goes chunked
  // (its length dropped) so trailers can follow; HTTP/2 ends the stream with them.
  bool expect_trailers = false;
  bool header_only = false;  // HEAD, 304, 204: no body follows whatever the length says
  // Set by the codec: the body goes out chunked (its length is unknown, the client takes it).
  bool chunked = false;
  bool keep_alive = true;
  bool accept_ranges = false;
  bool upgrade = false;      // 101: "Connection: upgrade", then the connection is a tunnel
  bool omit_server = false;  // an upstream's Server is passed on (proxy_pass_header Server)
  bool omit_date = false;    // likewise Date
  // content_type came from elsewhere (an X-Accel-Redirect's upstream): the content that
  // answers keeps it rather than setting its own (nginx sets a type only where none is).
  bool content_type_kept = false;

  void add(std::string_view name, std::string_view value);
  void add_trailer(std::string_view name, std::string_view value);
  void clear();
};

// One attempt of a proxied request, kept as numbers: the $upstream_*_time strings are made only
// when a log or a header reads them.
struct UpstreamAttempt {
  static constexpr uint32_t kNone = UINT32_MAX;  // shown as "-"
  int status = 0;
  bool timed = false;  // false: no peer was tried ("no live upstreams": a status only)
  uint32_t response_ms = 0;
  uint32_t connect_ms = kNone;
  uint32_t header_ms = kNone;
  // A later proxied location's attempts follow (an internal redirect): nginx's empty state,
  // shown as " : " between the two sets of values; the other fields are unused.
  bool separator = false;
  uint64_t bytes_received = 0;   // head and body as read, framing included
  uint64_t bytes_sent = 0;       // the request as written
  uint64_t response_length = 0;  // the body's bytes as read (chunked framing included)
};

// $upstream_* values of a proxied request (one entry per attempt, ", "-separated).
// bytes_received/bytes_sent/head_bytes count the attempt under way; note_attempt_end (proxy)
// moves them into its UpstreamAttempt.
struct UpstreamVars {
  std::string addr;
  std::vector<UpstreamAttempt> attempts;  // keeps its capacity in a pooled request
  std::string uri;                        // the URI sent upstream (for logs)
  std::string proxy_host, proxy_port;     // of this request's target (proxy_pass may use variables)
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t head_bytes = 0;  // of bytes_received, the response heads' (100 Continue too)
  // The attempt under way, which nginx shows too (its connect and header times while the
  // response head is built, its byte counts in a trailer; its response time as "-").
  bool in_attempt = false;
  bool head_complete = false;            // its final response head was read
  int cur_status = 0;                    // that head's status
  uint64_t cur_connect_ms = UINT64_MAX;  // after the attempt began; MAX = not yet
  uint64_t cur_header_ms = UINT64_MAX;   // likewise
  // The attempt under way as an entry (response_ms kNone).
  UpstreamAttempt current() const;
  // The last response head read from an upstream, kept for $upstream_http_* and
  // $upstream_cookie_* (the access log reads them after the buffer it came in was reused):
  // its bytes and its fields as views into them. Both keep their capacity across requests.
  std::string head_raw;
  std::vector<Header> fields;
  // Copies `raw` and re-points `in` (views into `raw`) at the copy.
  void keep_head(std::string_view raw, const std::vector<Header>& in);
  // Starts an attempt: the counters above from zero.
  void begin_attempt();
  // Ends the attempt under way with `status` after `response_ms`: appended to `attempts`.
  void end_attempt(int status, uint64_t response_ms);
  // Appends a peer's (or group's) name to `addr`, ", "-separated.
  void add_addr(std::string_view name) {
    if (!addr.empty() && !addr.ends_with(" : ")) addr += ", ";
    addr += name;
  }
  void clear() {
    bytes_received = bytes_sent = head_bytes = 0;
    in_attempt = head_complete = false;
    cur_status = 0;
    cur_connect_ms = cur_header_ms = UINT64_MAX;
    head_raw.clear();
    fields.clear();
    addr.clear();
    attempts.clear();
    uri.clear();
    proxy_host.clear();
    proxy_port.clear();
  }
};

// Variables whose value depends on the client address (Request::addr_vars_early).
enum AddrVar : uint8_t {
  kAddrVarRemoteAddr = 1,
  kAddrVarRemotePort = 2,
  kAddrVarBinaryRemoteAddr = 4,
  kAddrVarProxyAddXff = 8,
};

struct Request {
  Connection* conn = nullptr;
  const HttpConf* http = nullptr;  // the request's configuration generation
  const ServerConf* server = nullptr;
  const LocationConf* loc = nullptr;
  RequestHead head;
  // The request body's chunked decoder: request state (nginx keeps it in r->request_body), so
  // an idle connection does not carry it.
  ChunkedDecoder body_chunked;
  // The body as content that read it keeps it ($request_body, $request_body_file, the proxy's
  // buffered body): kept across internal redirects, dropped (file closed) by reset().
  RequestBody body;
  // limit_rate: the response's pace (rate 0: unlimited).
  RateLimit rate;

  std::string uri;   // $uri: decoded, normalised; rewritten by rewrite/try_files/index
  std::string args;  // $args
  std::string host;  // validated Host, lowercased, without port ("" if none)
  std::string_view method_name;
  Captures captures;
  std::string captures_subject;   // the string `captures` index into
  std::vector<std::string> vars;  // user variables, indexed by VariableTable::user_index
  std::vector<uint8_t> vars_set;  // whether vars[i] was assigned
  std::string filename;           // $request_filename for the last file lookup
  // try_files matched a file in a regex location with `alias`: the file is the alias plus
  // r.uri (nginx's r->add_uri_to_alias). Cleared when a location is chosen.
  bool add_uri_to_alias = false;
  std::string scratch;        // complex value evaluation
  std::string body_buf;       // generated response body
  std::vector<OutChunk> out;  // body chunks after the head
  std::string head_buf;       // serialized response head
  std::string tail_buf;       // HTTP/1.1: the last chunk with its trailer fields
  // The response body filter (compression, next; nginx's output filter chain), or null: the
  // seam between content and the codec. Set before the head is sent.
  BodyFilter* filter = nullptr;
  std::string multipart_buf;  // part headers for multipart/byteranges
  Response resp;
  UpstreamVars upstream;

  // realip: the client address taken from a header, for this request only.
  SockAddr realip_addr{};
  bool realip_set = false;
  // limit_req / limit_conn: what they decided for this request (nginx keeps it on r->main, so
  // an internal redirect is not limited twice): 0 = not yet; see http/limit_module.cpp.
  uint8_t limit_req_status = 0;
  uint8_t limit_conn_status = 0;
  bool resume_preaccess = false;  // delayed by limit_req: resume at preaccess
  uint64_t delay_ms = 0;
  // limit_conn counts held by this request, released when it ends.
  std::vector<std::atomic<uint64_t>*> conn_holds;
  // nginx caches $remote_addr and friends on first use: one read before a location-level
  // realip keeps showing the connection's address. Bits of AddrVar read before realip_set.
  uint8_t addr_vars_early = 0;
  // The client address: realip's if set, else the connection's peer ($remote_addr, allow/deny,
  // ip_hash, the error log's "client:").
  const SockAddr& client_addr() const;

  // Lifecycle
  struct timespec start {};
  uint64_t start_ms = 0;
  CachedFile* file = nullptr;       // the file being sent, if any
  FileCache* file_cache = nullptr;  // the worker's; set once per pooled request
  void release_file() {
    if (file) file_cache->release(file);
    file = nullptr;
  }
  uint64_t bytes_sent = 0;
  uint64_t body_bytes_sent = 0;
  uint64_t request_length = 0;
  uint64_t header_bytes = 0;
  int err_status = 0;  // status kept across an error_page internal redirect
  int redirects = 0;   // internal redirects, bounded as nginx (10)
  bool uri_changed = false;
  bool error_page_done = false;
  bool is_internal = false;
  bool log_done = false;
  bool pipelined = false;  // $pipe: its bytes came with the previous request's

  void reset();
};

}  // namespace portico::http
