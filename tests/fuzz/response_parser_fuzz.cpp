// libFuzzer harness for the upstream response-head parser and the hop-by-hop filter. Checks,
// beyond "no crash, no sanitizer report":
//  - on kComplete: consumed within the input and the head limit, every view inside the head,
//    the semantics consistent with the headers, framing consistent with status and fields;
//    a chunked body (the bytes after the head) goes through http::ChunkedDecoder;
//  - on kError: a reason for the log, worded as nginx's;
//  - the answer for a prefix is kIncomplete or the whole input's answer (statelessness);
//  - the prev_size fast path never changes a complete answer and only delays errors;
//  - HopByHop agrees with a naive, allocating reference.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "core/strings.h"
#include "http/chunked.h"
#include "proxy/hop_by_hop.h"
#include "proxy/response_parser.h"

using portico::iequals;
using portico::http::ChunkedDecoder;
using portico::http::Header;
using portico::proxy::BodyFraming;
using portico::proxy::HopByHop;
using portico::proxy::ParseStatus;
using portico::proxy::ResponseHead;
using portico::proxy::ResponseParseLimits;

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
  std::string why;
  bool operator==(const Answer& o) const {
    return status == o.status && consumed == o.consumed && why == o.why;
  }
};

Answer parse(std::string_view in, const ResponseParseLimits& limits, ResponseHead& head,
             size_t prev_size = 0) {
  Answer a{ParseStatus::kIncomplete};
  a.status = portico::proxy::parse_response_head(in, limits, head, &a.consumed, &a.why, prev_size);
  if (a.status != ParseStatus::kComplete) a.consumed = 0;
  if (a.status != ParseStatus::kError) a.why.clear();
  return a;
}

bool inside(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

bool has_ows_edge(std::string_view v) {
  return !v.empty() &&
         (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t');
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = portico::ascii_lower(c);
  return out;
}

// The hop-by-hop rule written the slow, obvious way.
bool reference_is_hop(const ResponseHead& h, std::string_view name, bool tunnelling) {
  const std::string n = lower(name);
  if (n == "upgrade") return !tunnelling;
  if (n == "connection" || n == "keep-alive" || n == "proxy-connection" || n == "te" ||
      n == "trailer" || n == "transfer-encoding")
    return true;
  for (const Header& c : h.headers) {
    if (lower(c.name) != "connection") continue;
    bool found = false;
    portico::proxy::for_each_list_item(
        c.value, [&](std::string_view item) { found = found || lower(item) == n; });
    if (found) return true;
  }
  return false;
}

void check_hop_by_hop(const ResponseHead& h) {
  std::set<std::string> named;
  for (const Header& c : h.headers) {
    if (lower(c.name) != "connection") continue;
    portico::proxy::for_each_list_item(c.value, [&](std::string_view item) {
      bool token = true;
      for (char ch : item) token = token && is_tchar(ch);
      if (token && !portico::proxy::is_fixed_hop_by_hop(item, false)) named.insert(lower(item));
    });
  }
  HopByHop hop;
  const bool ok = hop.init(h.headers);
  FUZZ_CHECK(ok == (named.size() <= HopByHop::kMaxNamed));
  FUZZ_CHECK(ok != hop.overflowed());
  for (bool tunnelling : {false, true}) {
    for (const Header& hd : h.headers) {
      if (!ok) {
        FUZZ_CHECK(hop.is_hop(hd.name, tunnelling));
        continue;
      }
      FUZZ_CHECK(hop.named_count() == named.size());
      FUZZ_CHECK(hop.is_hop(hd.name, tunnelling) == reference_is_hop(h, hd.name, tunnelling));
    }
    if (ok) {
      for (const std::string& n : named) FUZZ_CHECK(hop.is_hop(n, tunnelling));
      FUZZ_CHECK(hop.is_hop("Connection", tunnelling));
      FUZZ_CHECK(hop.is_hop("upgrade", tunnelling) == !tunnelling);
    }
  }
}

void check_complete(std::string_view in, const ResponseParseLimits& limits, const ResponseHead& h,
                    size_t consumed) {
  FUZZ_CHECK(consumed > 0 && consumed <= in.size() && consumed <= limits.max_head_size);
  const std::string_view head = in.substr(0, consumed);
  FUZZ_CHECK(head.substr(0, 7) == "HTTP/1.");
  FUZZ_CHECK(head.back() == '\n');
  FUZZ_CHECK(h.status >= 100 && h.status <= 999);
  FUZZ_CHECK(h.version_minor <= 1);
  FUZZ_CHECK(inside(h.status_text, head) && inside(h.reason, head));
  FUZZ_CHECK(h.status_text.size() >= 3 && h.status_text.substr(0, 3) == std::to_string(h.status));
  FUZZ_CHECK(h.reason.size() <= h.status_text.size() - 3);
  FUZZ_CHECK(h.status_text.substr(h.status_text.size() - h.reason.size()) == h.reason);
  for (char c : h.status_text) FUZZ_CHECK(c == '\t' || static_cast<unsigned char>(c) >= 0x20);
  for (const Header& hd : h.headers) {
    FUZZ_CHECK(inside(hd.name, head) && inside(hd.value, head));
    FUZZ_CHECK(!hd.name.empty());
    for (char c : hd.name) FUZZ_CHECK(is_tchar(c));
    FUZZ_CHECK(!has_ows_edge(hd.value));
    for (char c : hd.value) FUZZ_CHECK(c == '\t' || static_cast<unsigned char>(c) >= 0x20);
  }

  FUZZ_CHECK(h.content_length >= -1);
  FUZZ_CHECK(!(h.chunked && h.content_length >= 0));
  FUZZ_CHECK(!h.chunked || !h.is_http10());
  const Header* te = h.find("transfer-encoding");
  FUZZ_CHECK(h.chunked == (te != nullptr));
  if (te != nullptr) FUZZ_CHECK(iequals(te->value, "chunked"));
  FUZZ_CHECK((h.content_length >= 0) == (h.find("content-length") != nullptr));
  if (h.find("connection") == nullptr) {
    FUZZ_CHECK(h.keep_alive == !h.is_http10());
    FUZZ_CHECK(!h.connection_close && !h.upgrade);
  }
  if (h.connection_close) FUZZ_CHECK(!h.keep_alive);

  for (bool head_request : {false, true}) {
    const BodyFraming f = portico::proxy::framing(h, head_request);
    const bool no_body = head_request || h.status < 200 || h.status == 204 || h.status == 304;
    if (no_body) {
      FUZZ_CHECK(f == BodyFraming::kNone);
    } else if (h.chunked) {
      FUZZ_CHECK(f == BodyFraming::kChunked);
    } else if (h.content_length >= 0) {
      FUZZ_CHECK(f == BodyFraming::kLength);
    } else {
      FUZZ_CHECK(f == BodyFraming::kUntilClose);
    }
    if (portico::proxy::connection_reusable(h, f)) {
      FUZZ_CHECK(h.keep_alive && f != BodyFraming::kUntilClose && h.status != 101);
    }
  }

  // The bytes after the head are the body: a chunked one must decode like any other.
  if (portico::proxy::framing(h, false) == BodyFraming::kChunked) {
    std::string body(in.substr(consumed));
    ChunkedDecoder dec;
    const ChunkedDecoder::Result r = dec.decode(body, body.data());
    FUZZ_CHECK(r.consumed <= body.size() && r.data_len <= r.consumed);
    FUZZ_CHECK(!(r.done && r.error));
    FUZZ_CHECK(dec.total_body() == r.data_len);
    if (!r.done && !r.error) FUZZ_CHECK(r.consumed == body.size());
  }

  check_hop_by_hop(h);
}

bool known_error(std::string_view why) {
  for (std::string_view prefix :
       {"upstream sent no valid HTTP/1.0 header", "upstream sent invalid status \"",
        "upstream sent invalid header: \"", "upstream sent duplicate header line: \"",
        "upstream sent invalid \"Content-Length\" header: \"",
        "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
        "upstream sent unknown \"Transfer-Encoding\": \"",
        "upstream sent \"Transfer-Encoding\" in an HTTP/1.0 response",
        "upstream sent too big header"}) {
    if (why.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

void check_parser(std::string_view in, const ResponseParseLimits& limits, size_t split) {
  ResponseHead head;
  const Answer whole = parse(in, limits, head);
  if (whole.status == ParseStatus::kComplete) check_complete(in, limits, head, whole.consumed);
  if (whole.status == ParseStatus::kError) FUZZ_CHECK(known_error(whole.why));
  if (whole.status == ParseStatus::kIncomplete) FUZZ_CHECK(in.size() < limits.max_head_size);

  // Statelessness: a prefix gets kIncomplete or the same answer.
  ResponseHead part_head;
  const Answer part = parse(in.substr(0, split), limits, part_head);
  if (part.status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(whole.status != ParseStatus::kComplete || whole.consumed > split);
    // prev_size: complete and incomplete answers are unchanged; an error may only be delayed.
    ResponseHead fast_head;
    const Answer fast = parse(in, limits, fast_head, split);
    if (whole.status == ParseStatus::kError) {
      FUZZ_CHECK(fast == whole || fast.status == ParseStatus::kIncomplete);
    } else {
      FUZZ_CHECK(fast == whole);
    }
  } else {
    FUZZ_CHECK(part == whole);
  }

  // The same parse without a reason to write gives the same answer.
  ResponseHead quiet;
  size_t consumed = 0;
  FUZZ_CHECK(portico::proxy::parse_response_head(in, limits, quiet, &consumed, nullptr) ==
             whole.status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : (data[0] * 131u + data[size - 1]) % (size + 1);

  check_parser(in, ResponseParseLimits{}, split);
  // A small limit, reachable by short inputs too.
  ResponseParseLimits small;
  small.max_head_size = 96;
  check_parser(in, small, split);
  return 0;
}
