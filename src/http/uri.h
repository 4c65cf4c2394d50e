// URI and Host helpers with nginx's exact semantics: path normalisation ($uri), Host
// validation ($host), percent-decoding, escaping for redirects and proxied URIs, and $arg_NAME.
// Pure functions, no shared state: callable from any thread. The `out` strings are reused by
// the caller; they only allocate when their capacity is too small.
#pragma once

#include <string>
#include <string_view>

namespace portico::http {

enum class UriResult { kOk, kBad };

// Turns the raw path of a request-target into nginx's $uri, exactly as
// ngx_http_parse_complex_uri does:
//  - %XX is decoded (either hex case); '%' not followed by two hex digits -> kBad; %00 -> kBad;
//  - a decoded character is then processed like a raw one, so %2F is a separator and %2E%2E a
//    ".." segment; except that a decoded '%', '#' or '?' is always a plain character;
//  - "." segments are dropped, ".." removes the previous segment, ".." above the root -> kBad;
//    a trailing "/." or "/.." leaves the trailing slash ("/a/b/.." -> "/a/");
//  - with merge_slashes, runs of '/' become one ("//a///b" -> "/a/b"); without, they are kept
//    and ".." removes one (possibly empty) segment ("/a//.." -> "/a/");
//  - a raw '#' ends the path, as does a raw '?' (the caller normally strips the query first).
// An empty raw path (absolute-form "http://host") gives "/". A path not starting with '/' ->
// kBad. On kBad `out` is empty. A raw NUL -> kBad (nginx's request-line parser rejects it
// before this step). Other control characters are copied through: rejecting them in the raw
// request line is the HTTP parser's job, and nginx allows decoded ones (%01) in $uri.
UriResult normalize_path(std::string_view raw_path, std::string& out, bool merge_slashes = true);

// Validates a Host header (or the host of an absolute-form target) like ngx_http_validate_host:
// lowercases A-Z, strips ":port" (for "[v6]:port" keeps "[v6]"), strips one trailing dot
// (unless a later dot follows in the port: nginx turns "a.:8." into "a.").
// Rejects (returns false, caller answers 400): "..", '/', NUL, other control characters, SP,
// DEL, and a host that is empty after stripping ("", ":80", "."). Bytes >= 0x80 pass, and so
// does '\\' (as nginx on Unix, where '/' is the only path separator).
bool validate_host(std::string_view in, std::string& out);

// Decodes %XX sequences (and '+' to ' ' when plus_as_space, for form-encoded values). Returns
// false on a '%' not followed by two hex digits (out then holds what was decoded so far).
// Unlike normalize_path, %00 is accepted and decoded to a NUL byte.
bool percent_decode(std::string_view in, std::string& out, bool plus_as_space);

// Appends `in` to `out` with nginx's NGX_ESCAPE_URI set escaped as %XX (uppercase hex): CTLs,
// SP, '"', '#', '%', '<', '>', '?', '\\', '^', '`', '{', '|', '}', DEL and bytes >= 0x80. Used to
// put a decoded $uri back into a URL (redirects, proxy_pass with a URI part).
void escape_uri(std::string_view in, std::string& out);
// Number of bytes escape_uri would escape (each adds two output bytes).
size_t escape_uri_count(std::string_view in);

// The raw (not decoded) value of the first argument called `name` (ASCII case-insensitive) in
// a query string, as ngx_http_arg finds it for $arg_NAME: arguments are separated by '&' only,
// the value runs to the next '&'. "b" without '=' does not count as an argument named b.
// Returns false when absent: nginx's "not found", which access logs print as "-" while an
// empty value ("b=") prints as nothing.
bool find_arg(std::string_view args, std::string_view name, std::string_view* value);
// Same, with absent and empty both giving an empty view.
std::string_view find_arg(std::string_view args, std::string_view name);

// nginx's ngx_http_parse_unsafe_uri, for a URI a response names (X-Accel-Redirect): splits
// `in` at its first '?' into `uri` (percent-decoded when it has '%') and `args` (verbatim).
// Returns false for an unsafe one: empty, starting with '?', a NUL, or a ".." segment
// ("..", "../x", "/x/..", "/x/../y"), before or after decoding (then `uri` holds the decoded
// form, else it is empty).
bool parse_unsafe_uri(std::string_view in, std::string& uri, std::string& args);

}  // namespace portico::http
