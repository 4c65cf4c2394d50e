#include "proxy/headers.h"

#include <utility>
#include <vector>

#include "core/http_date.h"
#include "core/strings.h"
#include "http/phases.h"
#include "http/uri.h"
#include "proxy/cookie_rewrite.h"
#include "proxy/hop_by_hop.h"

namespace portico::proxy {

namespace {

// Where the URL starts in a Location or Refresh value.
size_t at_of(std::string_view name, std::string_view value) {
  if (!iequals(name, "refresh")) return 0;
  size_t at = value.find("url=");
  return at == std::string_view::npos ? value.size() : at + 4;
}

bool in_list(const std::vector<std::string>& list, std::string_view lname) {
  for (const auto& s : list)
    if (iequals(s, lname)) return true;
  return false;
}

// The URI sent upstream (nginx's rules): without a URI part in proxy_pass, the original request
// URI, or the normalised one once changed; with one, the location's prefix replaced by it. A URI
// changed by `rewrite ... break` in this location is passed whole (nginx ignores the proxy_pass
// URI part then); with variables, the URI written is the URI sent.
void build_uri(http::Request& r, const ProxyPass& pass, const std::string* var_uri,
               std::string& uri) {
  uri.clear();
  if (var_uri) {
    uri = *var_uri;
  } else if (!pass.has_uri || r.uri_changed) {
    if (!r.uri_changed && !r.is_internal) {
      if (!r.head.authority.empty()) {
        // absolute-form: send origin-form
        uri.assign(r.head.path);
        if (r.head.has_query) {
          uri += '?';
          uri += r.head.query;
        }
      } else {
        uri.assign(r.head.target);
      }
    } else {
      http::escape_uri(r.uri, uri);
      if (!r.args.empty()) {
        uri += '?';
        uri += r.args;
      }
    }
  } else {
    uri = pass.uri;
    std::string_view rest = r.uri;
    if (rest.size() >= pass.location.size())
      rest.remove_prefix(pass.location.size());
    else
      rest = {};
    http::escape_uri(rest, uri);
    if (!r.args.empty()) {
      uri += '?';
      uri += r.args;
    }
  }
}

void add_field(std::string& h, std::string_view name, std::string_view value) {
  h += name;
  h += ": ";
  h += value;
  h += "\r\n";
}

}  // namespace

BodyMode request_body_mode(const http::RequestHead& head, const ProxyConf& conf) {
  if (conf.has_set_body) return BodyMode::kSet;
  const bool has_body = head.content_length > 0 || head.chunked;
  if (!has_body || !conf.pass_request_body) return BodyMode::kNone;
  if (conf.request_buffering || (head.chunked && !conf.http_minor)) return BodyMode::kBuffered;
  return head.chunked ? BodyMode::kChunked : BodyMode::kLength;
}

bool build_request_head(http::Request& r, const ProxyConf& conf, const ProxyPass& pass,
                        const std::string* var_uri, BodyMode mode, std::string& h) {
  h.clear();
  if (conf.has_method) {
    conf.method.eval(r, h);
  } else {
    h += r.method_name;
  }
  h += ' ';
  build_uri(r, pass, var_uri, r.upstream.uri);
  h += r.upstream.uri;
  h += conf.http_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";

  // proxy_set_header (with nginx's defaults merged in), empty values dropped.
  thread_local std::string value;  // reused: no allocation per request once warm
  for (const auto& sh : conf.set_headers) {
    value.clear();
    sh.value.eval(r, value);
    if (!value.empty()) add_field(h, sh.name, value);
  }
  // Client headers, except those set above, hop-by-hop ones and the framing we redo.
  if (conf.pass_request_headers) {
    HopByHop hop;
    if (!hop.init(r.head.headers)) return false;  // Connection names too many fields: 400
    for (const auto& hd : r.head.headers) {
      if (hop.is_hop(hd.name, false)) continue;
      // Content-Length is ours to write when we pass the body (nginx keeps the client's when
      // proxy_pass_request_body is off).
      if (iequals(hd.name, "content-length") && (conf.pass_request_body || conf.has_set_body))
        continue;
      if (iequals(hd.name, "expect")) continue;
      bool overridden = false;
      for (const auto& sh : conf.set_headers) overridden = overridden || iequals(sh.lname, hd.name);
      if (!overridden) add_field(h, hd.name, hd.value);
    }
  }
  switch (mode) {
    case BodyMode::kLength:
      h += "Content-Length: ";
      h += std::to_string(r.head.content_length);
      h += "\r\n\r\n";
      break;
    case BodyMode::kChunked:
      h += "Transfer-Encoding: chunked\r\n\r\n";
      break;
    case BodyMode::kNone:
      h += "\r\n";
      break;
    case BodyMode::kBuffered:
    case BodyMode::kSet:
      break;  // end_buffered_head() adds the length once the whole body is in
  }
  return true;
}

void end_buffered_head(std::string& head, uint64_t body_size) {
  head += "Content-Length: ";
  head += std::to_string(body_size);
  head += "\r\n\r\n";
}

bool build_response_head(http::Request& r, const ResponseHead& in, BodyFraming framing,
                         const ProxyConf& conf, const ProxyPass& pass) {
  http::Response& resp = r.resp;
  const int status = in.status;
  const bool upgrade = status == 101;
  const bool head_request = r.head.method == http::Method::kHead;
  resp.clear();  // nothing of an earlier attempt or phase
  resp.status = status;
  resp.status_line = in.status_text;
  resp.upgrade = upgrade;
  if (upgrade) resp.keep_alive = false;
  // No body follows (HEAD, 1xx, 204, 304); else the length, or -1: the codec chunks it or ends
  // the connection after it. A HEAD response keeps the length the upstream announced.
  resp.header_only = framing == BodyFraming::kNone;
  resp.content_length = framing == BodyFraming::kLength || head_request ? in.content_length : -1;
  resp.omit_server = in_list(conf.pass_headers, "server");
  resp.omit_date = in_list(conf.pass_headers, "date");
  // `expires` replaces the upstream's Expires and Cache-Control (nginx); `expires modified`
  // counts from the upstream's Last-Modified, which then goes out as ours.
  const bool expires = http::expires_applies(r, status);
  if (expires) {
    if (const http::Header* lm = in.find("last-modified"))
      if (auto t = parse_http_date(lm->value)) resp.last_modified = *t;
  }
  HopByHop hop;
  if (!hop.init(in.headers)) return false;
  const bool cookies = !conf.cookie_domains.empty() || !conf.cookie_paths.empty();
  // Set-Cookie fields rewritten: (index in resp.fields, index in resp.field_values).
  thread_local std::vector<std::pair<size_t, size_t>> rewritten;
  rewritten.clear();
  for (const auto& hd : in.headers) {
    if (hop.is_hop(hd.name, upgrade)) continue;
    if (iequals(hd.name, "content-length")) continue;  // resp.content_length
    if (in_list(conf.hide_headers, hd.name) && !in_list(conf.pass_headers, hd.name)) continue;
    if (expires && (iequals(hd.name, "expires") || iequals(hd.name, "cache-control"))) continue;
    if (resp.last_modified >= 0 && iequals(hd.name, "last-modified")) continue;
    if ((iequals(hd.name, "location") || iequals(hd.name, "refresh")) && !conf.redirect_off) {
      std::string rewritten;  // only a redirect pays for it
      if (rewrite_redirect(r, conf, pass, hd.name, hd.value, rewritten)) {
        resp.add(hd.name, rewritten);  // the response's own: it outlives the upstream buffer
        continue;
      }
    }
    if (cookies && iequals(hd.name, "set-cookie")) {
      // Only a location with proxy_cookie_* rules gets here. The new value is owned by the
      // response; the field keeps its place (its view is set below, once no value moves).
      std::string& v = resp.next_field_value();
      if (rewrite_set_cookie(r, conf.cookie_domains, conf.cookie_paths, hd.value, v)) {
        resp.fields.push_back({hd.name, {}});
        rewritten.push_back({resp.fields.size() - 1, resp.field_value_count - 1});
        continue;
      }
      --resp.field_value_count;
    }
    resp.fields.push_back(hd);
  }
  for (const auto& [field, value] : rewritten) resp.fields[field].value = resp.field_values[value];
  return true;
}

bool rewrite_redirect(http::Request& r, const ProxyConf& conf, const ProxyPass& pass,
                      std::string_view name, std::string_view value, std::string& out) {
  bool changed = false;
  static const std::vector<Redirect> kDefault = [] {
    Redirect d;
    d.is_default = true;
    return std::vector<Redirect>{d};
  }();
  for (const auto& rd : conf.redirects.empty() ? kDefault : conf.redirects) {
    std::string from, to;
    if (rd.regex) {
      std::string_view subject = value.substr(at_of(name, value));
      Captures caps;
      if (!rd.regex->match(subject, &caps)) continue;
      r.captures_subject.assign(subject);
      r.captures = caps;
      r.captures.subject = r.captures_subject;
      rd.to.eval(r, to);
      out.assign(value.substr(0, at_of(name, value)));
      out += to;
      changed = true;
      break;
    }
    if (rd.is_default) {
      // proxy_redirect default == "proxy_redirect http://HOST:PORT/URI LOCATION;"
      from = "http://" + pass.proxy_host + (pass.has_uri ? pass.uri : std::string("/"));
      to = pass.has_uri ? pass.location : std::string("/");
    } else {
      rd.from.eval(r, from);
      rd.to.eval(r, to);
    }
    size_t at = 0;
    if (iequals(name, "refresh")) {
      at = value.find("url=");
      if (at == std::string_view::npos) continue;
      at += 4;
    }
    if (value.substr(at).substr(0, from.size()) == from && !from.empty()) {
      std::string next(value.substr(0, at));
      next += to;
      next += value.substr(at + from.size());
      out = std::move(next);
      changed = true;
      break;
    }
  }
  std::string_view v = changed ? std::string_view(out) : value;
  if (iequals(name, "location") && !v.empty() && v[0] == '/' && r.loc->absolute_redirect) {
    // As nginx's header filter: a relative Location becomes absolute.
    std::string saved = r.resp.location;
    http::set_location(r, v);
    out = r.resp.location;
    r.resp.location = saved;
    changed = true;
  }
  return changed;
}

}  // namespace portico::proxy
