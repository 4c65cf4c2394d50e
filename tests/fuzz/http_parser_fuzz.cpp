// libFuzzer harness for the HTTP/1.1 request-head parser (and the chunked decoder fed the same
// bytes). Checks, beyond "no crash, no sanitizer report":
//  - on kComplete: consumed within the input and the head limit, every view inside the head,
//    the analysed semantics consistent with the headers;
//  - the answer for a prefix is kIncomplete or the whole input's answer (statelessness);
//  - the prev_size fast path never changes a complete answer and only delays errors.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/strings.h"
#include "http/chunked.h"
#include "http/parser.h"

using portico::http::ChunkedDecoder;
using portico::http::Header;
using portico::http::ParseLimits;
using portico::http::ParseStatus;
using portico::http::RequestHead;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace {

struct Answer {
  ParseStatus status;
  size_t consumed = 0;
  int error = 0;
  bool operator==(const Answer& o) const {
    return status == o.status && consumed == o.consumed && error == o.error;
  }
};

Answer parse(std::string_view in, const ParseLimits& limits, RequestHead& head,
             size_t prev_size = 0) {
  Answer a{ParseStatus::kIncomplete};
  a.status = parse_request_head(in, limits, head, &a.consumed, &a.error, prev_size);
  if (a.status != ParseStatus::kComplete) a.consumed = 0;
  if (a.status != ParseStatus::kError) a.error = 0;
  return a;
}

bool inside(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

bool has_ows_edge(std::string_view v) {
  return !v.empty() &&
         (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t');
}

void check_complete(std::string_view in, const ParseLimits& limits, const RequestHead& h,
                    size_t consumed) {
  FUZZ_CHECK(consumed > 0 && consumed <= in.size() && consumed <= limits.max_head_size);
  const std::string_view head = in.substr(0, consumed);
  for (std::string_view v : {h.request_line, h.method_name, h.target, h.scheme, h.authority, h.path,
                             h.query, h.protocol, h.host})
    FUZZ_CHECK(inside(v, head));
  FUZZ_CHECK(!h.method_name.empty() && !h.target.empty());
  FUZZ_CHECK(h.request_line.size() <= limits.max_request_line);
  FUZZ_CHECK(h.version_major == 1 && h.version_minor <= 1);
  FUZZ_CHECK(h.headers.size() <= limits.max_headers);
  for (const Header& hd : h.headers) {
    FUZZ_CHECK(inside(hd.name, head) && inside(hd.value, head));
    FUZZ_CHECK(!hd.name.empty());
    FUZZ_CHECK(!has_ows_edge(hd.value));
    // Names that reach the caller are nginx's [A-Za-z0-9-]; other lines were ignored.
    for (char c : hd.name)
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-');
    // Values: HTAB, SP, VCHAR, obs-text and DEL (passed through as nginx does); no other CTL.
    for (char c : hd.value) FUZZ_CHECK(c == '\t' || static_cast<unsigned char>(c) >= 0x20);
  }
  FUZZ_CHECK(h.content_length >= -1);
  FUZZ_CHECK(!(h.chunked && h.content_length >= 0));
  FUZZ_CHECK(!h.chunked || !h.is_http10());
  FUZZ_CHECK(h.chunked == (h.find("transfer-encoding") != nullptr));
  FUZZ_CHECK((h.content_length >= 0) == (h.find("content-length") != nullptr));
  if (!h.is_http10()) FUZZ_CHECK(h.find("host") != nullptr && !h.host.empty());
  if (h.find("connection") == nullptr) FUZZ_CHECK(h.keep_alive == !h.is_http10());
  if (h.is_http10()) FUZZ_CHECK(!h.expect_continue);
  if (!h.authority.empty()) {
    FUZZ_CHECK(h.host == h.authority);
    FUZZ_CHECK(!h.scheme.empty());
    for (char c : h.scheme) FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    FUZZ_CHECK(h.path.size() >= 1 && h.path[0] == '/');
  } else if (h.target[0] == '/') {
    FUZZ_CHECK(h.target.substr(0, h.path.size()) == h.path);
  }
  for (char c : h.host) {
    FUZZ_CHECK(c != '/' && c != 0x7f);
    FUZZ_CHECK(static_cast<unsigned char>(c) > ' ');
  }
  if (h.has_query) FUZZ_CHECK(inside(h.query, h.target));  // a fragment may follow it
  FUZZ_CHECK(h.path.find('#') == std::string_view::npos);
  FUZZ_CHECK(h.query.find('#') == std::string_view::npos);
}

void check_parser(std::string_view in, const ParseLimits& limits, size_t split) {
  RequestHead head;
  const Answer whole = parse(in, limits, head);
  if (whole.status == ParseStatus::kComplete) check_complete(in, limits, head, whole.consumed);
  if (whole.status == ParseStatus::kError) {
    const int e = whole.error;
    FUZZ_CHECK(e == 400 || e == 414 || e == 417 || e == 431 || e == 501 || e == 505);
  }

  // Statelessness: a prefix gets kIncomplete or the same answer.
  RequestHead part_head;
  const std::string_view part = in.substr(0, split);
  const Answer part_answer = parse(part, limits, part_head);
  if (part_answer.status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(whole.status != ParseStatus::kComplete || whole.consumed > split);
    // prev_size: complete and incomplete answers are unchanged; an error may only be delayed.
    RequestHead fast_head;
    const Answer fast = parse(in, limits, fast_head, split);
    if (whole.status == ParseStatus::kError) {
      FUZZ_CHECK(fast == whole || fast.status == ParseStatus::kIncomplete);
    } else {
      FUZZ_CHECK(fast == whole);
    }
  } else {
    FUZZ_CHECK(part_answer == whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : (data[0] * 131u + data[size - 1]) % (size + 1);

  check_parser(in, ParseLimits{}, split);
  // Small limits, so that every limit is reachable by short inputs too.
  ParseLimits small;
  small.max_request_line = 40;
  small.max_header_line = 30;
  small.max_head_size = 160;
  small.max_headers = 4;
  check_parser(in, small, split);

  // The same bytes as a chunked body, decoded in place.
  std::string buf(in);
  ChunkedDecoder dec;
  const ChunkedDecoder::Result r = dec.decode(buf, buf.data());
  FUZZ_CHECK(r.consumed <= size && r.data_len <= r.consumed);
  FUZZ_CHECK(!(r.done && r.error));
  FUZZ_CHECK(dec.total_body() == r.data_len);
  if (!r.done && !r.error) FUZZ_CHECK(r.consumed == size);
  return 0;
}
