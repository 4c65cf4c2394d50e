// Fuzzes what the proxy parses out of an upstream's response fields for the accel features:
// the Set-Cookie splitter behind proxy_cookie_domain/path (proxy/cookie_rewrite.h) and the
// X-Accel-Redirect URI check (http::parse_unsafe_uri, nginx's ngx_http_parse_unsafe_uri).
// Input: the bytes are used as both a Set-Cookie value and an X-Accel-Redirect value.
// Invariants: a parsed cookie rebuilds into a value that parses to the same attributes (and
// rebuilds to itself); a URI taken as safe has no NUL and no ".." segment, and its args are
// exactly what followed the first '?'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/uri.h"
#include "proxy/cookie_rewrite.h"

using namespace portico;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

bool has_dotdot_segment(std::string_view p) {
  for (size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] != '.' || p[i + 1] != '.') continue;
    const bool starts = i == 0 || p[i - 1] == '/';
    const bool ends = i + 2 == p.size() || p[i + 2] == '/';
    if (starts && ends) return true;
  }
  return false;
}

void check_cookie(std::string_view v) {
  std::vector<proxy::CookieAttr> attrs, again;
  if (!proxy::parse_cookie(v, attrs)) return;
  std::string rebuilt, twice;
  proxy::rebuild_cookie(attrs, rebuilt);
  FUZZ_CHECK(proxy::parse_cookie(rebuilt, again));
  proxy::rebuild_cookie(again, twice);
  FUZZ_CHECK(twice == rebuilt);
  std::string out;
  for (const auto& a : attrs) {
    if (proxy::rewrite_domain(a.value, "example.com", "x", out)) FUZZ_CHECK(out.size() <= 2);
    if (proxy::rewrite_path(a.value, "/", "/p/", out)) FUZZ_CHECK(out.size() == a.value.size() + 2);
  }
}

void check_uri(std::string_view v) {
  std::string uri, args;
  if (!http::parse_unsafe_uri(v, uri, args)) return;
  FUZZ_CHECK(uri.find('\0') == std::string::npos);
  FUZZ_CHECK(!has_dotdot_segment(uri));
  const size_t q = v.find('?');
  FUZZ_CHECK(q != 0);
  if (q != std::string_view::npos)
    FUZZ_CHECK(args == v.substr(q + 1));
  else
    FUZZ_CHECK(args.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  std::string_view in(reinterpret_cast<const char*>(data), len);
  check_cookie(in);
  check_uri(in);
  return 0;
}
