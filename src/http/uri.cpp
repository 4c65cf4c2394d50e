#include "http/uri.h"

#include <cstddef>
#include <cstdint>

#include "core/strings.h"

namespace portico::http {

namespace {

// nginx's "usual" table (ngx_http_parse.c): bytes that need no thought in a path. Everything
// else is a CTL, SP, '#', '%', '.', '/', '?' or DEL.
constexpr bool is_usual(uint8_t c) {
  if (c >= 0x80) return true;
  if (c <= 0x20 || c == 0x7f) return false;
  return c != '#' && c != '%' && c != '.' && c != '/' && c != '?';
}

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  uint8_t l = uint8_t(c | 0x20);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

enum class State : uint8_t { kUsual, kSlash, kDot, kDotDot, kQuoted, kQuotedSecond };

// Backs `u` (just past a "/..") up to just past the '/' that starts the previous segment.
// Returns false if there is none: ".." above the root.
bool up_one_segment(const char* base, ptrdiff_t& u) {
  u -= 4;
  for (;;) {
    if (u < 0) return false;
    if (base[u] == '/') {
      ++u;
      return true;
    }
    --u;
  }
}

}  // namespace

// A transcription of ngx_http_parse_complex_uri. `ch` is the character being looked at; a
// state either consumes it (next()) or leaves it for the next state (only after decoding a %XX,
// so that the decoded byte is seen as if it were raw). Output never outgrows input.
static UriResult normalize_into(std::string_view raw, std::string& out, bool merge_slashes) {
  if (raw.empty()) {
    out.resize(1);  // not assign("/"): g++ 12 -O2 reports a bogus -Wrestrict on it
    out[0] = '/';
    return UriResult::kOk;
  }
  if (raw[0] != '/') return UriResult::kBad;

  out.resize(raw.size());
  char* const base = out.data();
  ptrdiff_t u = 0;
  const size_t n = raw.size();
  size_t p = 0;
  uint8_t ch = 0;
  auto next = [&] { ch = p < n ? uint8_t(raw[p]) : uint8_t('\n'), ++p; };
  State state = State::kUsual, quoted_state = State::kUsual;
  uint8_t decoded = 0;

  next();
  while (p <= n) {
    // A raw NUL never gets this far in nginx (its request-line parser rejects CTLs); refuse it
    // here too so that $uri can never carry one into a file name. A decoded %00 is refused in
    // kQuotedSecond, so `ch` is 0 here only when read raw.
    if (ch == 0) return UriResult::kBad;
    switch (state) {
      case State::kUsual:
        if (is_usual(ch)) {
          base[u++] = char(ch);
          next();
          break;
        }
        switch (ch) {
          case '/':
            state = State::kSlash;
            base[u++] = char(ch);
            break;
          case '%':
            quoted_state = state;
            state = State::kQuoted;
            break;
          case '?':
          case '#':
            goto done;
          default:  // '.', CTLs, SP, DEL
            base[u++] = char(ch);
            break;
        }
        next();
        break;

      case State::kSlash:
        if (is_usual(ch)) {
          state = State::kUsual;
          base[u++] = char(ch);
          next();
          break;
        }
        switch (ch) {
          case '/':
            if (!merge_slashes) base[u++] = char(ch);
            break;
          case '.':
            state = State::kDot;
            base[u++] = char(ch);
            break;
          case '%':
            quoted_state = state;
            state = State::kQuoted;
            break;
          case '?':
          case '#':
            goto done;
          default:
            state = State::kUsual;
            base[u++] = char(ch);
            break;
        }
        next();
        break;

      case State::kDot:
        if (is_usual(ch)) {
          state = State::kUsual;
          base[u++] = char(ch);
          next();
          break;
        }
        switch (ch) {
          case '/':
            state = State::kSlash;
            --u;  // drop the "."
            break;
          case '.':
            state = State::kDotDot;
            base[u++] = char(ch);
            break;
          case '%':
            quoted_state = state;
            state = State::kQuoted;
            break;
          case '?':
          case '#':
            --u;
            goto done;
          default:
            state = State::kUsual;
            base[u++] = char(ch);
            break;
        }
        next();
        break;

      case State::kDotDot:
        if (is_usual(ch)) {
          state = State::kUsual;
          base[u++] = char(ch);
          next();
          break;
        }
        switch (ch) {
          case '/':
          case '?':
          case '#':
            if (!up_one_segment(base, u)) return UriResult::kBad;
            if (ch != '/') goto done;
            state = State::kSlash;
            break;
          case '%':
            quoted_state = state;
            state = State::kQuoted;
            break;
          default:  // "..." or "..x": an ordinary segment
            state = State::kUsual;
            base[u++] = char(ch);
            break;
        }
        next();
        break;

      case State::kQuoted: {
        int v = hex_value(ch);
        if (v < 0) return UriResult::kBad;
        decoded = uint8_t(v);
        state = State::kQuotedSecond;
        next();
        break;
      }

      case State::kQuotedSecond: {
        int v = hex_value(ch);
        if (v < 0) return UriResult::kBad;
        ch = uint8_t((decoded << 4) + v);
        if (ch == '%' || ch == '#' || ch == '?') {  // never re-read as an escape or delimiter
          state = State::kUsual;
          base[u++] = char(ch);
          next();
          break;
        }
        if (ch == 0) return UriResult::kBad;
        state = quoted_state;  // re-read the decoded byte in the state that saw the '%'
        break;
      }
    }
  }

  if (state == State::kQuoted || state == State::kQuotedSecond) return UriResult::kBad;
  if (state == State::kDot) {
    --u;
  } else if (state == State::kDotDot) {
    if (!up_one_segment(base, u)) return UriResult::kBad;
  }

done:
  out.resize(size_t(u));
  return UriResult::kOk;
}

UriResult normalize_path(std::string_view raw, std::string& out, bool merge_slashes) {
  const UriResult r = normalize_into(raw, out, merge_slashes);
  if (r != UriResult::kOk) out.clear();  // not the half-normalized bytes
  return r;
}

bool validate_host(std::string_view in, std::string& out) {
  enum class HostState : uint8_t { kUsual, kLiteral, kRest } state = HostState::kUsual;
  size_t dot_pos = in.size();  // "none yet": never equal to i - 1 below
  size_t host_len = in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    const uint8_t ch = uint8_t(in[i]);
    switch (ch) {
      case '.':
        if (i > 0 && dot_pos == i - 1) return false;
        dot_pos = i;
        break;
      case ':':
        if (state == HostState::kUsual) {
          host_len = i;
          state = HostState::kRest;
        }
        break;
      case '[':
        if (i == 0) state = HostState::kLiteral;
        break;
      case ']':
        if (state == HostState::kLiteral) {
          host_len = i + 1;
          state = HostState::kRest;
        }
        break;
      default:
        if (ch == '/' || ch <= 0x20 || ch == 0x7f) return false;
        break;
    }
  }
  if (host_len > 0 && dot_pos == host_len - 1) --host_len;
  if (host_len == 0) return false;

  out.resize(host_len);
  for (size_t i = 0; i < host_len; ++i) out[i] = ascii_lower(in[i]);
  return true;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_as_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(uint8_t(in[i + 1]));
      int lo = hex_value(uint8_t(in[i + 2]));
      if (hi < 0 || lo < 0) return false;
      out.push_back(char((hi << 4) | lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

namespace {

// NGX_ESCAPE_URI from ngx_escape_uri() (ngx_string.c): one bit per byte, set = escape.
constexpr uint32_t kEscapeUri[8] = {
    0xffffffff,  // 0x00-0x1f: all CTLs
    0xd000002d,  // ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!   -> SP " # % < > ?
    0x50000000,  // _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@  -> \ ^
    0xb8000001,  //  ~}| {zyx wvut srqp  onml kjih gfed cba`  -> ` { | } DEL
    0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,  // 0x80-0xff
};

constexpr bool needs_escape(uint8_t c) {
  return (kEscapeUri[c >> 5] & (1u << (c & 0x1f))) != 0;
}

}  // namespace

void escape_uri(std::string_view in, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.reserve(out.size() + in.size() + 2 * escape_uri_count(in));
  for (char c : in) {
    const uint8_t b = uint8_t(c);
    if (needs_escape(b)) {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xf]);
    } else {
      out.push_back(c);
    }
  }
}

size_t escape_uri_count(std::string_view in) {
  size_t n = 0;
  for (char c : in) n += needs_escape(uint8_t(c)) ? 1 : 0;
  return n;
}

bool find_arg(std::string_view args, std::string_view name, std::string_view* value) {
  if (name.empty()) return false;
  size_t pos = 0;
  while (pos <= args.size()) {
    size_t amp = args.find('&', pos);
    if (amp == std::string_view::npos) amp = args.size();
    std::string_view arg = args.substr(pos, amp - pos);
    if (arg.size() > name.size() && arg[name.size()] == '=' &&
        iequals(arg.substr(0, name.size()), name)) {
      *value = arg.substr(name.size() + 1);
      return true;
    }
    pos = amp + 1;
  }
  return false;
}

std::string_view find_arg(std::string_view args, std::string_view name) {
  std::string_view value;
  return find_arg(args, name, &value) ? value : std::string_view();
}

namespace {

// A ".." segment at the start or after a '/' of `p` (NUL counts as unsafe too).
bool has_dotdot_or_nul(std::string_view p) {
  auto dotdot_at = [&](size_t i) {
    return i + 1 < p.size() && p[i] == '.' && p[i + 1] == '.' &&
           (i + 2 == p.size() || p[i + 2] == '/');
  };
  if (dotdot_at(0)) return true;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\0') return true;
    if (p[i] == '/' && dotdot_at(i + 1)) return true;
  }
  return false;
}

}  // namespace

bool parse_unsafe_uri(std::string_view in, std::string& uri, std::string& args) {
  uri.clear();
  args.clear();
  if (in.empty() || in[0] == '?') return false;
  const size_t q = in.find('?');
  std::string_view path = in.substr(0, q);
  if (q != std::string_view::npos) args.assign(in.substr(q + 1));
  if (has_dotdot_or_nul(path)) return false;
  if (path.find('%') == std::string_view::npos) {
    uri.assign(path);
    return true;
  }
  // As ngx_unescape_uri: %XX decoded, a '%' not followed by two hex digits kept as it is.
  for (size_t i = 0; i < path.size(); ++i) {
    int hi, lo;
    if (path[i] == '%' && i + 2 < path.size() && (hi = hex_value(uint8_t(path[i + 1]))) >= 0 &&
        (lo = hex_value(uint8_t(path[i + 2]))) >= 0) {
      uri += char(hi * 16 + lo);
      i += 2;
      continue;
    }
    uri += path[i];
  }
  return !has_dotdot_or_nul(uri);
}

}  // namespace portico::http
