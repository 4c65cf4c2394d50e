// The response side of the pipeline: error_page and nginx's special pages, the redirect
// Location, and the headers module's filter (expires, add_header, add_trailer).
#include <algorithm>
#include <cassert>
#include <cstdio>

#include "core/http_date.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/handler.h"
#include "http/phase_internal.h"

namespace portico::http {

namespace {

const char* kErrorTail = "</h1></center>\r\n<hr><center>";

// nginx's pages for its internal TLS codes, answered as 400 (ngx_http_error_49x_page).
const char* tls_error_text(int status) {
  switch (status) {
    case 495:
      return "The SSL certificate error";
    case 496:
      return "No required SSL certificate was sent";
    case 497:
      return "The plain HTTP request was sent to HTTPS port";
    default:
      return nullptr;
  }
}

void build_special_body(Request& r, int status) {
  std::string& b = r.body_buf;
  b.clear();
  if (status < 300 || status == 304) return;
  if (const char* text = tls_error_text(status)) {
    b += "<html>\r\n<head><title>400 ";
    b += text;
    b += "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>";
    b += text;
    b += "</center>\r\n<hr><center>";
  } else {
    const char* reason = status_reason(status);
    b += "<html>\r\n<head><title>";
    b += std::to_string(status);
    b += ' ';
    b += reason;
    b += "</title></head>\r\n<body>\r\n<center><h1>";
    b += std::to_string(status);
    b += ' ';
    b += reason;
    b += kErrorTail;
  }
  b += (r.loc && !r.loc->server_tokens) ? "portico" : "portico/" PORTICO_VERSION;
  b += "</center>\r\n</body>\r\n</html>\r\n";
}

}  // namespace

void respond_special(Request& r, int status) {
  r.out.clear();
  r.release_file();
  build_special_body(r, status);
  if (tls_error_text(status)) {
    status = 400;  // 495-497 are nginx's internal codes: the client sees (and the log says) 400
    r.resp.keep_alive = false;
  }
  r.resp.status = status;
  if (status == 204 || status == 304 || status < 200) {
    r.resp.content_length = -1;
    r.resp.header_only = true;
    r.resp.content_type = {};
    return;
  }
  // A status with no page of its own (`return 200;`) is an empty body of the default type, as
  // nginx's special response for codes it has no page for.
  const LocationConf* loc = r.loc ? r.loc : r.server ? r.server->loc : nullptr;
  if (r.body_buf.empty() && loc)
    r.resp.content_type = loc->default_type;
  else
    r.resp.content_type = "text/html";
  r.resp.content_length = int64_t(r.body_buf.size());
  if (!r.body_buf.empty()) r.out.push_back(OutChunk{r.body_buf.data(), r.body_buf.size(), -1, 0});
  if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
      status == 500 || status == 501 || status == 505)
    r.resp.keep_alive = false;
}

void clear_for_error(Request& r, int status) {
  // A redirect's Location stays (nginx keeps headers_out.location over an error_page redirect).
  std::string location = is_redirect_status(status) ? std::move(r.resp.location) : "";
  if (status != 401) {
    r.resp.clear();
    r.resp.location = std::move(location);
    return;
  }
  std::vector<ResponseHeader> keep;  // an error path: the copy does not matter
  for (size_t i = 0; i < r.resp.header_count; ++i)
    if (iequals(r.resp.headers[i].name, "www-authenticate")) keep.push_back(r.resp.headers[i]);
  r.resp.clear();
  for (const ResponseHeader& h : keep) r.resp.add(h.name, h.value);
}

Step finalize(Request& r, Step s) {
  if (!s.is(Step::Kind::kStatus)) {
    assert(s.is(Step::Kind::kRespond) || s.is(Step::Kind::kClose));
    return s;
  }
  const int status = s.code();
  const LocationConf* loc = r.loc ? r.loc : r.server->loc;
  if (status >= 300 && (!r.error_page_done || loc->recursive_error_pages)) {
    for (const ErrorPage& ep : loc->error_pages) {
      bool hit = false;
      for (int c : ep.codes) hit = hit || c == status;
      if (!hit) continue;
      r.error_page_done = true;
      std::string uri;
      ep.uri.eval(r, uri);
      int new_status = ep.overwrite > 0 ? ep.overwrite : status;
      if (ep.overwrite == 0) new_status = 0;  // the page's own status
      if (uri.find("://") != std::string::npos ||
          (!uri.empty() && uri[0] != '/' && uri[0] != '@')) {
        const int code = is_redirect_status(ep.overwrite) ? ep.overwrite : 302;
        set_location(r, uri);
        respond_special(r, code);
        return Step::respond();
      }
      r.err_status = new_status;
      if (r.head.method != Method::kHead) {  // nginx: the page is asked for with GET
        r.method_name = "GET";
        r.head.method = Method::kGet;
      }
      clear_for_error(r, status);
      if (uri[0] == '@') {
        const void* named = r.server->matcher.find_named(uri);
        if (!named) {
          PORTICO_LOG(LogLevel::kError, r.conn->id(), "could not find named location \"{}\"", uri);
          respond_special(r, 500);
          return Step::respond();
        }
        r.loc = static_cast<const LocationConf*>(named);
        return Step::named_redirect();
      }
      r.args.clear();
      split_uri_args(r, uri, false);
      r.uri = std::move(uri);
      return Step::internal_redirect();
    }
  }
  // (`return 301` without a URL: nginx sends the page without Location.)
  respond_special(r, status);
  return Step::respond();
}

std::string log_context(const Request& r) {
  std::string s = ", client: ";
  append_addr_text(r.client_addr(), s);
  s += ", server: ";
  if (r.server) s += r.server->primary_name;
  if (!r.head.request_line.empty()) {
    s += ", request: \"";
    s += r.head.request_line;
    s += '"';
  }
  if (const Header* h = r.head.find("host")) {
    s += ", host: \"";
    s += h->value;
    s += '"';
  }
  return s;
}

void respond_text(Request& r, int status, std::string_view text) {
  // After an error_page redirect the response keeps the error's status (nginx's err_status).
  r.resp.status = r.err_status > 0 ? r.err_status : status;
  r.body_buf.assign(text);
  if (!r.resp.content_type_kept) r.resp.content_type = r.loc->default_type;
  r.resp.content_length = int64_t(r.body_buf.size());
  r.out.clear();
  if (!r.body_buf.empty()) r.out.push_back(OutChunk{r.body_buf.data(), r.body_buf.size(), -1, 0});
}

void set_location(Request& r, std::string_view url) {
  std::string& loc = r.resp.location;
  loc.clear();
  if (!url.empty() && url[0] == '/' && r.loc && r.loc->absolute_redirect) {
    // nginx: scheme://host[:port] + url, host from server_name_in_redirect or Host.
    loc += "http://";
    if (r.loc->server_name_in_redirect || r.host.empty()) {
      loc += r.server->primary_name;
    } else {
      loc += r.host;
    }
    int port = addr_port(r.conn->local_addr());
    if (r.loc->port_in_redirect && port != 80 && port != 0) {
      loc += ':';
      loc += std::to_string(port);
    }
  }
  loc += url;
}

// ---- response head --------------------------------------------------------------------------

namespace {

// add_header, add_trailer and expires apply to these codes (the first two to others with
// `always`).
bool headers_module_code(int status) {
  return status == 200 || status == 201 || status == 204 || status == 206 || status == 301 ||
         status == 302 || status == 303 || status == 304 || status == 307 || status == 308;
}

// Drops the response's own fields named `name` (passed from an upstream, or added earlier).
void remove_header(Response& resp, std::string_view name) {
  std::erase_if(resp.fields, [&](const Header& f) { return iequals(f.name, name); });
  size_t kept = 0;
  for (size_t i = 0; i < resp.header_count; ++i) {
    if (iequals(resp.headers[i].name, name)) continue;
    if (kept != i) std::swap(resp.headers[kept], resp.headers[i]);  // strings keep capacity
    ++kept;
  }
  resp.header_count = kept;
}

// The response's Last-Modified as a time: its own, or a proxied one still among the fields.
time_t last_modified_of(const Response& resp) {
  if (resp.last_modified >= 0) return resp.last_modified;
  for (const Header& f : resp.fields)
    if (iequals(f.name, "last-modified"))
      if (auto t = parse_http_date(f.value)) return *t;
  return -1;
}

// nginx's ngx_http_set_expires: Expires and Cache-Control from `expires`, replacing the
// response's own.
void set_expires(Request& r) {
  using Kind = LocationConf::Expires::Kind;
  LocationConf::Expires e;
  const LocationConf::Expires* conf = &r.loc->expires;
  if (conf->kind == Kind::kOff) return;
  if (conf->kind == Kind::kVariable) {
    thread_local std::string value;  // reused: no allocation per response once warm
    value.clear();
    conf->value.eval(r, value);
    if (const char* err = parse_expires(value, conf->modified, &e)) {
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "{} \"{}\"{}", err, value, log_context(r));
      return;
    }
    if (e.kind == Kind::kOff) return;
    conf = &e;
  }
  Response& resp = r.resp;
  remove_header(resp, "expires");
  remove_header(resp, "cache-control");
  const time_t now = TimeCache::local().unix_time();
  time_t at = 0;
  int64_t max_age = 0;
  switch (conf->kind) {
    case Kind::kOff:
    case Kind::kVariable:
      return;
    case Kind::kEpoch:
      resp.add("Expires", "Thu, 01 Jan 1970 00:00:01 GMT");
      resp.add("Cache-Control", "no-cache");
      return;
    case Kind::kMax:
      resp.add("Expires", "Thu, 31 Dec 2037 23:55:55 GMT");
      resp.add("Cache-Control", "max-age=315360000");
      return;
    case Kind::kAccess:
      at = now + conf->seconds;
      max_age = conf->seconds;
      break;
    case Kind::kModified: {
      const time_t since = last_modified_of(resp);
      at = (since != -1 ? since : now) + conf->seconds;
      max_age = int64_t(at - now);
      break;
    }
    case Kind::kDaily: {
      // The next time the local clock shows that time of day.
      const long gmtoff = TimeCache::local().gmtoff();
      const time_t day = (now + gmtoff) / 86400 * 86400 - gmtoff;
      at = day + conf->seconds;
      if (at <= now) at += 86400;
      max_age = int64_t(at - now);
      break;
    }
  }
  char date[kHttpDateLen];
  resp.add("Expires", format_http_date(at, date));
  char cc[40];
  if (max_age < 0)
    resp.add("Cache-Control", "no-cache");
  else
    resp.add(
        "Cache-Control",
        std::string_view(cc, size_t(snprintf(cc, sizeof cc, "max-age=%lld", (long long)max_age))));
}

// One add_header (nginx's ngx_http_set_headers table): ETag and Last-Modified replace the
// response's own (an empty value removes it); other names are added when not empty.
void add_one_header(Response& resp, std::string_view name, std::string_view value) {
  if (iequals(name, "etag")) {
    resp.etag.assign(value);
    remove_header(resp, "etag");
    return;
  }
  if (iequals(name, "last-modified")) {
    remove_header(resp, "last-modified");
    resp.last_modified = -1;
    if (value.empty()) return;
    if (auto t = parse_http_date(value)) {
      resp.last_modified = *t;
      return;
    }
  }
  if (!value.empty()) resp.add(name, value);
}

}  // namespace

const char* parse_expires(std::string_view v, bool modified, LocationConf::Expires* e) {
  using Kind = LocationConf::Expires::Kind;
  e->modified = modified;
  if (!modified && v == "epoch") {
    e->kind = Kind::kEpoch;
    return nullptr;
  }
  if (!modified && v == "max") {
    e->kind = Kind::kMax;
    return nullptr;
  }
  if (!modified && v == "off") {
    e->kind = Kind::kOff;
    return nullptr;
  }
  bool daily = false, minus = false;
  if (!v.empty() && v[0] == '@') {
    daily = true;
    v.remove_prefix(1);
  } else if (!v.empty() && v[0] == '-') {
    minus = true;
    v.remove_prefix(1);
  } else if (!v.empty() && v[0] == '+') {
    v.remove_prefix(1);
  }
  auto ms = parse_time_ms(v);
  if (v.empty() || !ms || *ms % 1000 != 0 || *ms / 1000 > uint64_t(INT32_MAX))
    return "\"expires\" directive invalid value";
  const int64_t secs = int64_t(*ms / 1000);
  if (daily) {
    if (secs >= 86400) return "daily time value must be less than 24 hours";
    if (modified) return "daily time cannot be used with \"modified\" parameter";
    e->kind = Kind::kDaily;
    e->seconds = secs;
    return nullptr;
  }
  e->kind = modified ? Kind::kModified : Kind::kAccess;
  e->seconds = minus ? -secs : secs;
  return nullptr;
}

bool expires_applies(const Request& r, int status) {
  using Kind = LocationConf::Expires::Kind;
  return r.loc && r.loc->expires.kind != Kind::kOff && r.loc->expires.kind != Kind::kVariable &&
         headers_module_code(status);
}

void apply_headers_filter(Request& r) {
  if (!r.loc) return;
  const bool ok_code = headers_module_code(r.resp.status);
  if (ok_code) set_expires(r);
  thread_local std::string value;  // reused: no allocation per response once warm
  for (const auto& ah : r.loc->add_headers) {
    if (!ok_code && !ah.always) continue;
    value.clear();
    ah.value.eval(r, value);
    add_one_header(r.resp, ah.name, value);
  }
  for (const auto& at : r.loc->add_trailers) {
    if (!ok_code && !at.always) continue;
    r.resp.expect_trailers = true;
    break;
  }
}

void collect_trailers(Request& r) {
  r.resp.trailer_count = 0;
  if (!r.loc || !r.resp.expect_trailers) return;
  const bool ok_code = headers_module_code(r.resp.status);
  thread_local std::string value;
  for (const auto& at : r.loc->add_trailers) {
    if (!ok_code && !at.always) continue;
    value.clear();
    at.value.eval(r, value);
    if (!value.empty()) r.resp.add_trailer(at.name, value);
  }
}

const char* status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Time-out";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 494:
      return "Request Header Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Temporarily Unavailable";
    case 504:
      return "Gateway Time-out";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return status < 200   ? "Informational"
             : status < 300 ? "OK"
             : status < 400 ? "Redirect"
             : status < 500 ? "Error"
                            : "Server Error";
  }
}

}  // namespace portico::http
