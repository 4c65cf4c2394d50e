// HTTP/1.1 request-head parser. One forward pass over the head with 256-entry character tables
// (picohttpparser / ngx_http_parse.c style); the request line is found and checked for CTLs by
// that pass, then split into its three parts by a second look at those few bytes, which are
// known complete by then. The field lines, where the bytes are, are parsed in a single pass.
#include "http/parser.h"

#include <array>
#include <cstring>
#include <limits>

#include "core/strings.h"
#include "http/char_class.h"

namespace portico::http {
namespace {

using namespace chars;  // byte classes shared with the response parser

// Header names nginx processes: letters, digits and '-'. A name with any other character
// (e.g. '_' or '.') makes nginx ignore the line (ignore_invalid_headers on); so do we.
constexpr CharTable kNameChar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alpha(c) || is_digit(c) || c == '-';
  return t;
}();

// authority bytes (RFC 3986 3.2): unreserved, sub-delims, ':', '[', ']', '%'. No '@': userinfo
// in an http(s) URI is an error for a recipient (RFC 9110 4.2.4).
constexpr CharTable kAuthorityChar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alpha(c) || is_digit(c);
  for (char c : std::string_view("-._~!$&'()*+,;=:[]%")) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

ParseStatus fail(int* error_status, int status) {
  *error_status = status;
  return ParseStatus::kError;
}

// How many elements of a Transfer-Encoding list are "chunked" (OWS around elements ignored).
int chunked_count(std::string_view te) {
  int n = 0;
  while (!te.empty()) {
    const size_t comma = te.find(',');
    std::string_view item = te.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, "chunked")) ++n;
    if (comma == std::string_view::npos) break;
    te.remove_prefix(comma + 1);
  }
  return n;
}

// Validates a host[:port] as nginx's ngx_http_validate_host() does: not empty, no "..", no path
// separator ('/' on Unix), no whitespace, CTL or DEL. Case and a trailing dot are left for the
// router to normalise. Beyond nginx, the ASCII characters RFC 3986's host and port grammar has no
// place for (delimiters of other URI parts and the "unwise" set: " # < > ? @ \ ^ ` { | }) are
// refused too: RFC 9112 3.2 says a Host with an invalid value MUST get 400, and a '\' or '@'
// reaching a log, a $host-built redirect or an upstream's Host is how confusion attacks start.
// Bytes >= 0x80 pass as in nginx (an IDN sent as UTF-8 by a broken client keeps working).
constexpr std::string_view kNotInHost = R"("#<>?@\^`{|})";

bool valid_host(std::string_view h) {
  if (h.empty() || h == ".") return false;
  char prev = 0;
  for (char ch : h) {
    const auto c = static_cast<uint8_t>(ch);
    if (c <= 0x20 || c == 0x7f || ch == '/') return false;
    if (kNotInHost.find(ch) != std::string_view::npos) return false;
    if (ch == '.' && prev == '.') return false;
    prev = ch;
  }
  return true;
}

// Splits a path-and-query ("/a/b?x=1") that starts at t[0]. A fragment is not part of a
// request-target (RFC 9112 3.2), but nginx accepts one and drops it from $uri and $args.
bool split_path_query(std::string_view t, RequestHead& out) {
  if (const void* h = std::memchr(t.data(), '#', t.size()))
    t = t.substr(0, size_t(static_cast<const char*>(h) - t.data()));
  const void* q = std::memchr(t.data(), '?', t.size());
  if (q == nullptr) {
    out.path = t;
    return true;
  }
  const size_t i = size_t(static_cast<const char*>(q) - t.data());
  out.path = t.substr(0, i);
  out.has_query = true;
  out.query = t.substr(i + 1);
  return true;
}

bool parse_absolute_form(std::string_view t, RequestHead& out) {
  size_t i = 0;
  while (i < t.size() && is_alpha(static_cast<uint8_t>(t[i]))) ++i;
  // nginx takes any alphabetic scheme here (the request is still served as http).
  const std::string_view scheme = t.substr(0, i);
  if (scheme.empty()) return false;
  if (t.substr(i, 3) != "://") return false;
  i += 3;
  const size_t auth_start = i;
  while (i < t.size() && is_in(kAuthorityChar, t[i])) ++i;
  const std::string_view authority = t.substr(auth_start, i - auth_start);
  if (!valid_host(authority) || authority.front() == ':') return false;
  out.scheme = scheme;
  out.authority = authority;
  if (i == t.size() || t[i] == '?') {
    out.path = t.substr(auth_start - 1, 1);  // the last '/' of "://"
    if (i == t.size()) return true;
    out.has_query = true;
    out.query = t.substr(i + 1);
    if (const void* h = std::memchr(out.query.data(), '#', out.query.size()))
      out.query = out.query.substr(0, size_t(static_cast<const char*>(h) - out.query.data()));
    return true;
  }
  if (t[i] == '#') {
    out.path = t.substr(auth_start - 1, 1);
    return true;
  }
  if (t[i] != '/') return false;  // '@' (userinfo), '#', or a byte not allowed in an authority
  return split_path_query(t.substr(i), out);
}

// authority-form (CONNECT only, RFC 9112 3.2.3): host ":" port, port 1*DIGIT.
bool valid_authority_form(std::string_view t) {
  const size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
  for (char c : t)
    if (!is_in(kAuthorityChar, c)) return false;
  for (char c : t.substr(colon + 1))
    if (!is_digit(static_cast<uint8_t>(c))) return false;
  return valid_host(t.substr(0, colon));
}

bool parse_target(std::string_view t, RequestHead& out) {
  if (out.method == Method::kConnect) {
    // authority-form (RFC 9112 3.2.3); an origin-form target is taken too, so that either
    // gets the 405 an origin server answers CONNECT with (nginx 1.21.1), not a 400.
    if (t[0] == '/') return split_path_query(t, out);
    return valid_authority_form(t);  // path stays empty
  }
  if (t[0] == '/') return split_path_query(t, out);
  if (t == "*") {
    // asterisk-form is only for a server-wide OPTIONS (RFC 9112 3.2.4).
    if (out.method != Method::kOptions) return false;
    out.path = t;
    return true;
  }
  return parse_absolute_form(t, out);
}

// Splits a complete request line (no CTL or DEL inside, checked by the caller) into its parts.
// Returns 0 or the error status.
int parse_request_line(std::string_view line, RequestHead& out) {
  out.request_line = line;
  // nginx: a method is upper-case letters, '_' and '-' ("get" is 400).
  size_t i = 0;
  while (i < line.size() &&
         ((line[i] >= 'A' && line[i] <= 'Z') || line[i] == '_' || line[i] == '-'))
    ++i;
  if (i == 0 || i == line.size() || line[i] != ' ') return 400;
  out.method_name = line.substr(0, i);
  out.method = method_from_name(out.method_name);

  // Words are separated by one or more spaces and trailing spaces are ignored, as nginx (and
  // RFC 9112 section 3's "whitespace-delimited word boundaries") allow.
  size_t target_start = i;
  while (target_start < line.size() && line[target_start] == ' ') ++target_start;
  const size_t sp = line.find(' ', target_start);
  if (sp == std::string_view::npos) return 400;  // HTTP/0.9 simple request, or no version
  out.target = line.substr(target_start, sp - target_start);
  size_t v_start = sp;
  while (v_start < line.size() && line[v_start] == ' ') ++v_start;
  size_t v_end = line.size();
  while (v_end > v_start && line[v_end - 1] == ' ') --v_end;

  // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive; then the line ends.
  const std::string_view v = line.substr(v_start, v_end - v_start);
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(static_cast<uint8_t>(v[5])) ||
      v[6] != '.' || !is_digit(static_cast<uint8_t>(v[7])))
    return 400;
  out.protocol = v;
  // nginx reads the target before the version: an invalid one ("PRI * HTTP/2.0", the h2c
  // preface on an HTTP/1.x address) is a 400 before the version's 505.
  if (v[5] != '1') return parse_target(out.target, out) ? 505 : 400;
  out.version_major = 1;
  out.version_minor = v[7] == '0' ? 0 : 1;

  return parse_target(out.target, out) ? 0 : 400;
}

// Connection: a comma-separated list of tokens; several headers combine.
void scan_connection(std::string_view v, bool* close, bool* keep_alive, bool* upgrade) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view item = trim(v.substr(0, comma));
    if (iequals(item, "close"))
      *close = true;
    else if (iequals(item, "keep-alive"))
      *keep_alive = true;
    else if (iequals(item, "upgrade"))
      *upgrade = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// The semantic checks on a complete head (RFC 9112 6, RFC 9110 7.2 and 10.1.1), in nginx's
// order where the RFC leaves a choice. Returns 0 or the error status.
int analyse(RequestHead& r) {
  const Header* host = nullptr;
  const Header* content_length = nullptr;
  const Header* transfer_encoding = nullptr;
  bool close = false, keep_alive = false, upgrade = false;
  // Fields that must not repeat (RFC 9110 5.3: each is a single value, not a list), which nginx
  // answers with 400 too: bit per field.
  enum : uint8_t {
    kExpect = 1,
    kIfMatch = 2,
    kIfRange = 4,
    kIfNoneMatch = 8,
    kContentRange = 16,
    kAuthorization = 32,
    kIfModifiedSince = 64,
    kIfUnmodifiedSince = 128,
  };
  uint8_t seen = 0;
  bool expect_other = false;  // an expectation other than 100-continue
  auto once = [&seen](uint8_t bit) {
    const bool first = !(seen & bit);
    seen |= bit;
    return first;
  };

  for (const Header& h : r.headers) {
    // Dispatch on the length first: most fields are none of these and cost one switch.
    switch (h.name.size()) {
      case 8:
        if (iequals(h.name, "if-match") && !once(kIfMatch)) return 400;
        if (iequals(h.name, "if-range") && !once(kIfRange)) return 400;
        break;
      case 13:
        if (iequals(h.name, "if-none-match") && !once(kIfNoneMatch)) return 400;
        if (iequals(h.name, "content-range") && !once(kContentRange)) return 400;
        if (iequals(h.name, "authorization") && !once(kAuthorization)) return 400;
        break;
      case 19:
        if (iequals(h.name, "if-unmodified-since") && !once(kIfUnmodifiedSince)) return 400;
        break;
      case 4:
        if (iequals(h.name, "host")) {
          if (host != nullptr || !valid_host(h.value)) return 400;
          host = &h;
        }
        break;
      case 6:
        if (iequals(h.name, "expect")) {
          if (!once(kExpect)) return 400;
          if (iequals(h.value, "100-continue"))
            r.expect_continue = true;
          else
            expect_other = true;
        }
        break;
      case 10:
        if (iequals(h.name, "connection")) scan_connection(h.value, &close, &keep_alive, &upgrade);
        break;
      case 14:
        if (iequals(h.name, "content-length")) {
          // One header, digits only: "1, 1", "+1", " 1" and a second header are all 400.
          if (content_length != nullptr) return 400;
          const auto n = parse_uint(h.value);
          if (!n || *n > uint64_t(std::numeric_limits<int64_t>::max())) return 400;
          content_length = &h;
          r.content_length = int64_t(*n);
        }
        break;
      case 17:
        if (iequals(h.name, "if-modified-since") && !once(kIfModifiedSince)) return 400;
        if (iequals(h.name, "transfer-encoding")) {
          if (transfer_encoding != nullptr) return 400;
          transfer_encoding = &h;
        }
        break;
      default:
        break;
    }
  }

  if (r.is_http10()) {
    // RFC 9110 10.1.1: a server ignores 100-continue from a 1.0 client; so any Expect.
    r.expect_continue = false;
    r.keep_alive = keep_alive && !close;
  } else {
    if (host == nullptr) return 400;
    // RFC 9110 10.1.1: an expectation the server cannot meet may be answered 417; nginx
    // ignores it, and the client then waits for a "100 Continue" that never comes.
    if (expect_other) return 417;
    r.keep_alive = !close;
  }
  r.connection_upgrade = upgrade;
  if (!r.authority.empty())
    r.host = r.authority;
  else if (host != nullptr)
    r.host = host->value;

  if (transfer_encoding != nullptr) {
    if (r.is_http10()) return 400;
    const std::string_view te = transfer_encoding->value;
    if (te.empty()) return 400;
    if (!iequals(te, "chunked")) {
      // "chunked, chunked" (chunked applied twice, RFC 9112 7: a sender MUST NOT) cannot be
      // framed: 400. Other lists are codings we do not implement: 501 (9112 6.1; nginx too).
      if (chunked_count(te) > 1) return 400;
      return 501;  // "gzip, chunked", "identity", ...
    }
    if (content_length != nullptr) return 400;
    r.chunked = true;
  }
  return 0;
}

}  // namespace

Method method_from_name(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "POST") return Method::kPost;
      if (m == "HEAD") return Method::kHead;
      break;
    case 5:
      if (m == "PATCH") return Method::kPatch;
      if (m == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::kOptions;
      if (m == "CONNECT") return Method::kConnect;
      break;
    default:
      break;
  }
  return Method::kOther;
}

const Header* find_header(const std::vector<Header>& headers, std::string_view lowercase_name) {
  for (const Header& h : headers)
    if (iequals(h.name, lowercase_name)) return &h;
  return nullptr;
}

const Header* RequestHead::find(std::string_view lowercase_name) const {
  return find_header(headers, lowercase_name);
}

void RequestHead::clear() {
  std::vector<Header> keep = std::move(headers);
  keep.clear();
  *this = RequestHead();
  headers = std::move(keep);
}

namespace {

// True when the bytes added since prev_size cannot change a kIncomplete answer, except for an
// error inside the unfinished last line (see parse_request_head's prev_size).
bool nothing_new(std::string_view data, const ParseLimits& limits, size_t prev_size) {
  if (prev_size == 0 || prev_size >= data.size() || data.size() > limits.max_head_size)
    return false;
  const char* p = data.data() + prev_size;
  const char* const end = data.data() + data.size();
  if (skip_field_bytes(kLineChar, p, end) != end) return false;  // LF, CR, HTAB, other CTL, DEL
  const void* lf = memrchr(data.data(), '\n', prev_size);
  const size_t line_start =
      lf == nullptr ? 0 : size_t(static_cast<const char*>(lf) - data.data()) + 1;
  const size_t line_len = data.size() - line_start;
  return line_len <= limits.max_request_line && line_len <= limits.max_header_line;
}

}  // namespace

ParseStatus parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& out,
                               size_t* consumed, int* error_status, size_t prev_size) {
  if (nothing_new(data, limits, prev_size)) return ParseStatus::kIncomplete;
  out.clear();
  // Nothing past max_head_size is looked at: running into that end means the head is too big.
  const bool truncated = data.size() > limits.max_head_size;
  const char* const begin = data.data();
  const char* const end = begin + (truncated ? limits.max_head_size : data.size());
  const char* p = begin;
  const auto need_more = [&] {
    return truncated ? fail(error_status, 431) : ParseStatus::kIncomplete;
  };

  // Leading empty lines (RFC 9112 2.2), e.g. the CRLF some clients send after a POST body.
  for (;;) {
    if (p == end) return need_more();
    if (*p == '\n') {
      ++p;
    } else if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return fail(error_status, 400);
      p += 2;
    } else {
      break;
    }
  }

  // Request line: find its end, rejecting CTLs, DEL and bare CR on the way.
  {
    const char* const start = p;
    const char* const lim =
        size_t(end - p) > limits.max_request_line ? p + limits.max_request_line : end;
    p = skip_field_bytes(kLineChar, p, lim);
    if (p == end) return need_more();
    const char* line_end = p;
    if (*p == '\n') {
      ++p;
    } else if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return fail(error_status, 400);
      p += 2;
    } else if (p == lim) {
      return fail(error_status, 414);
    } else {
      return fail(error_status, 400);
    }
    const int status = parse_request_line(std::string_view(start, line_end - start), out);
    if (status != 0) return fail(error_status, status);
  }

  // Field lines, up to the empty line.
  for (;;) {
    if (p == end) return need_more();
    if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return fail(error_status, 400);
      p += 2;
      break;
    }
    if (*p == '\n') {
      ++p;
      break;
    }
    if (out.headers.size() >= limits.max_headers) return fail(error_status, 431);

    const char* const line = p;
    const char* const lim =
        size_t(end - p) > limits.max_header_line ? p + limits.max_header_line : end;
    bool valid_name = true;
    while (p < lim && is_in(kTchar, *p)) {
      valid_name = valid_name && (is_in(kNameChar, *p) || (*p == '_' && limits.underscores));
      ++p;
    }
    if (p == end) return need_more();
    if (p == lim && *p != '\r' && *p != '\n') return fail(error_status, 431);
    // obs-fold (a line starting with SP/HTAB), whitespace before the colon, an empty name and
    // control characters are errors. A line with no colon or with characters nginx does not
    // take in a name is ignored, as nginx's ignore_invalid_headers does.
    bool ignore = false;
    if (p == line || *p == ' ' || *p == '\t') return fail(error_status, 400);
    if (*p != ':') {
      if (*p != '\r' && *p != '\n' && static_cast<uint8_t>(*p) < 0x20)
        return fail(error_status, 400);
      ignore = true;
      p = skip_field_bytes(kValueChar, p, lim);
      if (p == end) return need_more();
      if (*p == '\n') {
        ++p;
      } else if (*p == '\r') {
        if (p + 1 == end) return need_more();
        if (p[1] != '\n') return fail(error_status, 400);
        p += 2;
      } else if (p == lim) {
        return fail(error_status, 431);
      } else {
        return fail(error_status, 400);
      }
      continue;
    }
    if (!valid_name && limits.ignore_invalid) ignore = true;
    const std::string_view name(line, p - line);

    ++p;
    while (p < lim && is_ows(*p)) ++p;
    const char* const value = p;
    p = skip_field_bytes(kValueChar, p, lim);
    if (p == end) return need_more();
    const char* value_end = p;
    if (*p == '\n') {
      ++p;
    } else if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return fail(error_status, 400);
      p += 2;
    } else if (p == lim) {
      return fail(error_status, 431);
    } else {
      return fail(error_status, 400);  // NUL or another CTL
    }
    while (value_end > value && is_ows(value_end[-1])) --value_end;
    if (ignore) continue;
    out.headers.push_back(Header{name, std::string_view(value, value_end - value)});
  }

  const int status = analyse(out);
  if (status != 0) return fail(error_status, status);
  *consumed = size_t(p - begin);
  return ParseStatus::kComplete;
}

}  // namespace portico::http
