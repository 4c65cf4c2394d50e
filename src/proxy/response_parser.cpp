// Upstream response-head parser. One forward pass with 256-entry character tables, as the
// request parser: the status line is checked byte by byte as far as bytes are there (so a
// response that is not HTTP/1.x fails on its first bytes, not when the buffer is full); field
// lines are scanned eight bytes at a time. The semantic checks run once the head is complete,
// in header order, so that the first offending field is the one the error names, as in nginx.
#include "proxy/response_parser.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/strings.h"
#include "http/char_class.h"
#include "proxy/hop_by_hop.h"

namespace portico::proxy {
namespace {

using http::Header;
using namespace http::chars;  // byte classes shared with the request parser

// Bytes that may stand in a field name without making the line invalid: VCHAR but ':', and
// obs-text. Those outside kTchar make the line ignored; whitespace, CTLs, DEL end the name.
constexpr CharTable kNameByte = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = c > 0x20 && c != 0x7f && c != ':';
  return t;
}();

ParseStatus fail(std::string* why, std::string_view message) {
  if (why != nullptr) why->assign(message);
  return ParseStatus::kError;
}

// nginx's wording: the line up to the offending byte, then that byte in hex.
ParseStatus invalid_header(std::string* why, const char* line, const char* bad) {
  if (why != nullptr) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "\\x%02x...\"", unsigned(static_cast<uint8_t>(*bad)));
    why->assign("upstream sent invalid header: \"");
    why->append(line, size_t(bad - line));
    why->append(hex);
  }
  return ParseStatus::kError;
}

constexpr std::string_view kNoStatusLine = "upstream sent no valid HTTP/1.0 header";

// Reads the status line that starts at p, checking each byte as it comes:
//   "HTTP/1." DIGIT 1*SP 3DIGIT [ ( SP / "." ) reason ] ( CRLF / LF )
// (several SPs before the code and IIS's "403.1" are nginx's leniencies). On kComplete *next is
// the start of the first field line. `end` is the end of the bytes that may be looked at.
ParseStatus parse_status_line(const char* p, const char* end, ResponseHead& out, const char** next,
                              std::string* why) {
  for (char expected : std::string_view("HTTP/1.")) {
    if (p == end) return ParseStatus::kIncomplete;
    if (*p++ != expected) return fail(why, kNoStatusLine);
  }
  if (p == end) return ParseStatus::kIncomplete;
  if (!is_digit(static_cast<uint8_t>(*p))) return fail(why, kNoStatusLine);
  out.version_minor = *p++ == '0' ? 0 : 1;
  if (p == end) return ParseStatus::kIncomplete;
  if (*p != ' ') return fail(why, kNoStatusLine);
  while (p < end && *p == ' ') ++p;

  const char* const code = p;
  int status = 0;
  for (int i = 0; i < 3; ++i, ++p) {
    if (p == end) return ParseStatus::kIncomplete;
    if (!is_digit(static_cast<uint8_t>(*p))) return fail(why, kNoStatusLine);
    status = status * 10 + (*p - '0');
  }
  if (status < 100) {
    if (why != nullptr) {
      why->assign("upstream sent invalid status \"");
      why->append(code, 3);
      why->push_back('"');
    }
    return ParseStatus::kError;
  }
  if (p == end) return ParseStatus::kIncomplete;
  if (*p == ' ') {
    ++p;
  } else if (*p != '.' && *p != '\r' && *p != '\n') {
    return fail(why, kNoStatusLine);  // "2000", "200OK", HTAB
  }
  const char* const reason = p;
  p = skip_field_bytes(kValueChar, p, end);
  if (p == end) return ParseStatus::kIncomplete;
  const char* const line_end = p;
  if (*p == '\n') {
    ++p;
  } else if (*p == '\r') {
    if (p + 1 == end) return ParseStatus::kIncomplete;
    if (p[1] != '\n') return fail(why, kNoStatusLine);
    p += 2;
  } else {
    return fail(why, kNoStatusLine);  // NUL or another CTL in the reason
  }
  out.status = status;
  out.status_text = std::string_view(code, size_t(line_end - code));
  out.reason = std::string_view(reason, size_t(line_end - reason));
  *next = p;
  return ParseStatus::kComplete;
}

ParseStatus duplicate(std::string* why, const Header& h, const Header& previous) {
  if (why != nullptr) {
    why->assign("upstream sent duplicate header line: \"");
    why->append(h.name).append(": ").append(h.value);
    why->append("\", previous value: \"");
    why->append(previous.name).append(": ").append(previous.value).push_back('"');
  }
  return ParseStatus::kError;
}

constexpr std::string_view kBothLengths =
    "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time";

// The semantic checks on a complete head, per field in arrival order as nginx's
// ngx_http_upstream_process_content_length() / _transfer_encoding() do.
ParseStatus analyse(ResponseHead& r, std::string* why) {
  const Header* content_length = nullptr;
  const Header* transfer_encoding = nullptr;
  bool keep_alive = false;

  for (const Header& h : r.headers) {
    // Dispatch on the length first: most fields are none of these and cost one switch.
    switch (h.name.size()) {
      case 10:
        if (iequals(h.name, "connection")) {
          for_each_list_item(h.value, [&](std::string_view option) {
            if (iequals(option, "close"))
              r.connection_close = true;
            else if (iequals(option, "keep-alive"))
              keep_alive = true;
            else if (iequals(option, "upgrade"))
              r.upgrade = true;
          });
        }
        break;
      case 14:
        if (iequals(h.name, "content-length")) {
          if (content_length != nullptr) return duplicate(why, h, *content_length);
          if (transfer_encoding != nullptr) return fail(why, kBothLengths);
          // Digits only, as nginx's ngx_atoof(): "1, 1", "+1", "0x10" are all errors.
          const auto n = parse_uint(h.value);
          if (!n || *n > uint64_t(std::numeric_limits<int64_t>::max())) {
            if (why != nullptr) {
              why->assign("upstream sent invalid \"Content-Length\" header: \"");
              why->append(h.name).append(": ").append(h.value).push_back('"');
            }
            return ParseStatus::kError;
          }
          content_length = &h;
          r.content_length = int64_t(*n);
        }
        break;
      case 17:
        if (iequals(h.name, "transfer-encoding")) {
          if (transfer_encoding != nullptr) return duplicate(why, h, *transfer_encoding);
          if (content_length != nullptr) return fail(why, kBothLengths);
          if (r.is_http10())
            return fail(why, "upstream sent \"Transfer-Encoding\" in an HTTP/1.0 response");
          if (!iequals(h.value, "chunked")) {
            if (why != nullptr) {
              why->assign("upstream sent unknown \"Transfer-Encoding\": \"");
              why->append(h.value).push_back('"');
            }
            return ParseStatus::kError;
          }
          transfer_encoding = &h;
          r.chunked = true;
        }
        break;
      default:
        break;
    }
  }
  r.keep_alive = !r.connection_close && (!r.is_http10() || keep_alive);
  return ParseStatus::kComplete;
}

// True when the bytes added since prev_size cannot change a kIncomplete answer, except for an
// error inside the unfinished last line (see parse_response_head's prev_size).
bool nothing_new(std::string_view data, const ResponseParseLimits& limits, size_t prev_size) {
  if (prev_size == 0 || prev_size >= data.size() || data.size() >= limits.max_head_size)
    return false;
  const char* const end = data.data() + data.size();
  return skip_field_bytes(kLineChar, data.data() + prev_size, end) == end;
}

}  // namespace

const Header* ResponseHead::find(std::string_view lowercase_name) const {
  return http::find_header(headers, lowercase_name);
}

void ResponseHead::clear() {
  std::vector<Header> keep = std::move(headers);
  keep.clear();
  *this = ResponseHead();
  headers = std::move(keep);
}

BodyFraming framing(const ResponseHead& head, bool request_was_head) {
  if (request_was_head || head.status < 200 || head.status == 204 || head.status == 304)
    return BodyFraming::kNone;
  if (head.chunked) return BodyFraming::kChunked;
  if (head.content_length >= 0) return BodyFraming::kLength;
  return BodyFraming::kUntilClose;
}

ParseStatus parse_response_head(std::string_view data, const ResponseParseLimits& limits,
                                ResponseHead& out, size_t* consumed, std::string* why,
                                size_t prev_size) {
  if (nothing_new(data, limits, prev_size)) return ParseStatus::kIncomplete;
  out.clear();
  // Nothing past max_head_size is looked at: needing more there means the head is too big.
  const bool full = data.size() >= limits.max_head_size;
  const char* const begin = data.data();
  const char* const end = begin + (full ? limits.max_head_size : data.size());
  const auto need_more = [&] {
    return full ? fail(why, "upstream sent too big header") : ParseStatus::kIncomplete;
  };

  const char* p = begin;
  if (const ParseStatus s = parse_status_line(p, end, out, &p, why); s != ParseStatus::kComplete)
    return s == ParseStatus::kIncomplete ? need_more() : s;

  // Field lines, up to the empty line.
  for (;;) {
    if (p == end) return need_more();
    if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return invalid_header(why, p, p);
      p += 2;
      break;
    }
    if (*p == '\n') {
      ++p;
      break;
    }

    const char* const line = p;
    bool ignore = false;
    while (p < end && is_in(kNameByte, *p)) {
      ignore = ignore || !is_in(kTchar, *p);
      ++p;
    }
    if (p == end) return need_more();
    // An empty name (obs-fold starts with SP or HTAB), whitespace before the colon, a CTL or
    // DEL in the name, a line without a colon.
    if (p == line || *p != ':') return invalid_header(why, line, p);
    const std::string_view name(line, size_t(p - line));

    ++p;
    while (p < end && is_ows(*p)) ++p;
    const char* const value = p;
    p = skip_field_bytes(kValueChar, p, end);
    if (p == end) return need_more();
    const char* value_end = p;
    if (*p == '\n') {
      ++p;
    } else if (*p == '\r') {
      if (p + 1 == end) return need_more();
      if (p[1] != '\n') return invalid_header(why, line, p);  // bare CR
      p += 2;
    } else {
      return invalid_header(why, line, p);  // NUL or another CTL
    }
    while (value_end > value && is_ows(value_end[-1])) --value_end;
    if (ignore) continue;
    out.headers.push_back(Header{name, std::string_view(value, size_t(value_end - value))});
  }

  if (const ParseStatus s = analyse(out, why); s != ParseStatus::kComplete) return s;
  *consumed = size_t(p - begin);
  return ParseStatus::kComplete;
}

}  // namespace portico::proxy
