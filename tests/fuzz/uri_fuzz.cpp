// libFuzzer harness for the URI and Host helpers (http/uri.h). Checks, beyond "no crash, no
// sanitizer report":
//  - normalize_path: a kOk result starts with '/', never outgrows the input (+1 for ""), has
//    no "." or ".." segment (so it can never climb above the root), and with merge_slashes has
//    no "//"; without '%', '?' or '#' in it, normalising it again changes nothing;
//  - validate_host: a valid result is non-empty, lowercase, no longer than the input, has no
//    "..", '/', '\\', CTL, SP or DEL, and validates to itself again -- unless it ends in '.',
//    which nginx lets through for "a.:8." (the port's dot hides the host's; even ".:8." -> ".");
//  - escape_uri then percent_decode gives the input back; find_arg returns a view inside args.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/uri.h"

using portico::http::UriResult;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace {

bool has_dot_segment(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '/') continue;
    std::string_view rest = p.substr(i + 1);
    if (rest == "." || rest == ".." || rest.starts_with("./") || rest.starts_with("../"))
      return true;
  }
  return false;
}

void check_path(std::string_view in, bool merge) {
  std::string out;
  if (portico::http::normalize_path(in, out, merge) != UriResult::kOk) return;
  FUZZ_CHECK(!out.empty() && out[0] == '/');
  FUZZ_CHECK(out.size() <= std::max<size_t>(in.size(), 1));
  FUZZ_CHECK(!has_dot_segment(out));
  if (merge) FUZZ_CHECK(out.find("//") == std::string::npos);
  FUZZ_CHECK(out.find('\0') == std::string::npos);
  if (out.find_first_of("%?#") == std::string::npos) {
    std::string again;
    FUZZ_CHECK(portico::http::normalize_path(out, again, merge) == UriResult::kOk);
    if (out.back() != '.') FUZZ_CHECK(again == out);
  }
}

void check_host(std::string_view in) {
  std::string out;
  if (!portico::http::validate_host(in, out)) return;
  FUZZ_CHECK(!out.empty() && out.size() <= in.size());
  FUZZ_CHECK(out.find("..") == std::string::npos);
  for (char c : out) {
    const auto b = static_cast<unsigned char>(c);
    FUZZ_CHECK(b > 0x20 && b != 0x7f && c != '/');  // '\\' is allowed, as nginx on Unix
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
  if (out.back() != '.') {
    std::string again;
    FUZZ_CHECK(portico::http::validate_host(out, again));
    FUZZ_CHECK(again == out);
  }
}

void check_escape(std::string_view in) {
  std::string escaped, decoded;
  portico::http::escape_uri(in, escaped);
  FUZZ_CHECK(escaped.size() == in.size() + 2 * portico::http::escape_uri_count(in));
  FUZZ_CHECK(portico::http::percent_decode(escaped, decoded, false));
  FUZZ_CHECK(decoded == in);
}

void check_args(std::string_view in) {
  // Name: up to the first '|', args: the rest.
  size_t bar = in.find('|');
  if (bar == std::string_view::npos) return;
  std::string_view name = in.substr(0, bar), args = in.substr(bar + 1);
  std::string_view value;
  if (portico::http::find_arg(args, name, &value)) {
    FUZZ_CHECK(value.data() >= args.data() &&
               value.data() + value.size() <= args.data() + args.size());
    FUZZ_CHECK(value.find('&') == std::string_view::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_path(in, true);
  check_path(in, false);
  check_host(in);
  check_escape(in);
  check_args(in);
  return 0;
}
