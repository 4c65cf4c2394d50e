// The compression module's decisions, made when a response head is about to go out: which
// coding (if any) transforms the body, and what that does to the head. As nginx's header
// filters (ngx_http_gzip_header_filter, ngx_http_gunzip_header_filter, ngx_brotli's) and
// ngx_http_gzip_ok; and the precompressed-file choice of gzip_static / brotli_static /
// zstd_static.
#include <ctime>

#include "compress/compress_module.h"
#include "compress/filter.h"
#include "core/http_date.h"
#include "core/strings.h"
#include "http/connection.h"
#include "http/http_config.h"
#include "http/request.h"
#include "static/static_module.h"

namespace portico::compress {

using http::Request;
using http::Response;

namespace {

constexpr size_t kMaxOutBuffer = 256 * 1024;
constexpr size_t kStreamOutBuffer = 64 * 1024;  // brotli, zstd

// A response field by (lowercase) name: the response's own headers, then passed fields.
std::string_view resp_field(const Response& resp, std::string_view name) {
  for (size_t i = 0; i < resp.header_count; ++i)
    if (iequals(resp.headers[i].name, name)) return resp.headers[i].value;
  for (const http::Header& f : resp.fields)
    if (iequals(f.name, name)) return f.value;
  return {};
}

bool has_field(const Response& resp, std::string_view name) {
  for (size_t i = 0; i < resp.header_count; ++i)
    if (iequals(resp.headers[i].name, name)) return true;
  for (const http::Header& f : resp.fields)
    if (iequals(f.name, name)) return true;
  return false;
}

void remove_field(Response& resp, std::string_view name) {
  for (size_t i = 0; i < resp.header_count;) {
    if (iequals(resp.headers[i].name, name)) {
      // Keep the order; storage moves down (swap keeps the strings' capacity).
      for (size_t j = i + 1; j < resp.header_count; ++j)
        std::swap(resp.headers[j - 1], resp.headers[j]);
      --resp.header_count;
    } else {
      ++i;
    }
  }
  std::erase_if(resp.fields, [&](const http::Header& f) { return iequals(f.name, name); });
}

// Whether a comma-separated field value names `token` (Cache-Control directives, Vary).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view el = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    while (!el.empty() && (el.front() == ' ' || el.front() == '\t')) el.remove_prefix(1);
    size_t end = el.find_first_of(" \t=;");
    if (iequals(el.substr(0, end), token)) return true;
  }
  return false;
}

std::string_view content_type(const Response& resp) {
  return resp.content_type.empty() ? resp_field(resp, "content-type") : resp.content_type;
}

void add_vary(Response& resp) {
  for (size_t i = 0; i < resp.header_count; ++i)
    if (iequals(resp.headers[i].name, "vary") &&
        lists_token(resp.headers[i].value, "accept-encoding"))
      return;
  resp.add("Vary", "Accept-Encoding");
}

// nginx's ngx_http_weak_etag: a strong validator no longer describes the transformed bytes.
void weaken_etag(Response& resp) {
  std::string_view passed;
  for (const http::Header& f : resp.fields)
    if (iequals(f.name, "etag")) passed = f.value;
  if (!passed.empty()) {
    resp.etag.assign(passed);  // ours from now on: the serializer writes resp.etag
    remove_field(resp, "etag");
  }
  if (resp.etag.empty() || resp.etag.starts_with("W/")) return;
  if (resp.etag.front() == '"')
    resp.etag.insert(0, "W/");
  else
    resp.etag.clear();
}

// The head of a transformed body: no length (the codec chunks, or closes for HTTP/1.0), no
// ranges, a weak validator.
void transformed_head(Response& resp) {
  resp.content_length = -1;
  resp.accept_ranges = false;
  remove_field(resp, "accept-ranges");
  weaken_etag(resp);
}

// nginx's r->headers_in.msie6: MSIE 4.x, 5.x, and 6.x without SV1.
bool is_msie6(std::string_view ua) {
  size_t m = ua.find("MSIE ");
  if (m == std::string_view::npos || m + 7 >= ua.size()) return false;
  if (ua[m + 6] != '.') return false;
  if (ua[m + 5] == '4' || ua[m + 5] == '5') return true;
  return ua[m + 5] == '6' && ua.find("SV1", m + 8) == std::string_view::npos;
}

// gzip_proxied for a request that came through a proxy (Via).
bool proxied_ok(const Request& r, uint16_t p) {
  if (p & kProxiedOff) return false;
  if (p & kProxiedAny) return true;
  if ((p & kProxiedAuth) && r.head.find("authorization")) return true;
  const Response& resp = r.resp;
  std::string_view expires = resp_field(resp, "expires");
  if (!expires.empty()) {
    if (!(p & kProxiedExpired)) return false;
    auto e = parse_http_date(expires);
    if (!e) return false;
    time_t date = time(nullptr);
    if (std::string_view d = resp_field(resp, "date"); !d.empty()) {
      auto t = parse_http_date(d);
      if (!t) return false;
      date = *t;
    }
    return *e < date;  // already expired (nginx: equal is not)
  }
  std::string_view cc = resp_field(resp, "cache-control");
  if (!cc.empty()) {
    return ((p & kProxiedNoCache) && lists_token(cc, "no-cache")) ||
           ((p & kProxiedNoStore) && lists_token(cc, "no-store")) ||
           ((p & kProxiedPrivate) && lists_token(cc, "private"));
  }
  if ((p & kProxiedNoLastModified) && (resp.last_modified >= 0 || has_field(resp, "last-modified")))
    return false;
  if ((p & kProxiedNoEtag) && (!resp.etag.empty() || has_field(resp, "etag"))) return false;
  return true;
}

// ngx_http_gzip_ok without the Accept-Encoding test.
bool gzip_client_ok(const Request& r, const CompressConf& c) {
  if (r.head.version_major * 10 + r.head.version_minor < c.gzip_http_version) return false;
  if (c.disable_msie6 || !c.disable.empty()) {
    const http::Header* ua = r.head.find("user-agent");
    if (ua) {
      if (c.disable_msie6 && is_msie6(ua->value)) return false;
      for (const auto& re : c.disable)
        if (re->match(ua->value, nullptr)) return false;
    }
  }
  if (!r.head.find("via")) return true;
  return proxied_ok(r, c.gzip_proxied);
}

AcceptEncoding client_codings(const Request& r) {
  const http::Header* ae = r.head.find("accept-encoding");
  return ae ? parse_accept_encoding(ae->value) : AcceptEncoding{};
}

FilterPool& pool_of(Request& r) {
  return static_cast<FilterPool&>(*r.conn->module_state(compress_module));
}

http::BodyFilter* start_filter(Request& r, CoderKind kind, const CoderParams& p, size_t out_cap) {
  FilterPool& pool = pool_of(r);
  CompressFilter* f = pool.acquire();
  if (!f->begin(kind, p, out_cap, r.conn->id())) {
    f->release();
    return nullptr;
  }
  return f;
}

size_t buffer_size(uint32_t num, uint32_t size) {
  return std::min<size_t>(size_t(num) * size, kMaxOutBuffer);
}

// gunzip: a gzip body for a client that does not take gzip.
http::BodyFilter* gunzip(Request& r, const CompressConf& c) {
  Response& resp = r.resp;
  if (c.gzip_vary) add_vary(resp);
  if (client_codings(r).accepts(Coding::kGzip) && gzip_client_ok(r, c)) return nullptr;
  http::BodyFilter* f = nullptr;
  if (!resp.header_only) {
    f = start_filter(r, CoderKind::kGunzip, {}, buffer_size(c.gunzip_bufs_num, c.gunzip_bufs_size));
    if (!f) return nullptr;  // out of memory: the body goes as it is, with its encoding
  }
  remove_field(resp, "content-encoding");
  transformed_head(resp);
  return f;
}

}  // namespace

bool TypeList::matches(std::string_view ct) const {
  if (any) return true;
  size_t semi = ct.find(';');
  ct = ct.substr(0, semi);
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
  if (ct.empty()) return false;
  if (iequals(ct, "text/html")) return true;
  for (const std::string& t : types)
    if (iequals(ct, t)) return true;
  return false;
}

bool gzip_ok(const Request& r, const CompressConf& c) {
  return client_codings(r).accepts(Coding::kGzip) && gzip_client_ok(r, c);
}

http::BodyFilter* body_filter_for(Request& r) {
  if (!r.loc || !r.conn) return nullptr;
  const CompressConf& c = r.loc->conf<CompressConf>();
  if (!c.gzip.on && !c.brotli.on && !c.zstd.on && !c.gunzip) return nullptr;
  Response& resp = r.resp;
  if (resp.upgrade) return nullptr;
  std::string_view encoding = resp_field(resp, "content-encoding");
  if (!encoding.empty()) {
    if (c.gunzip && iequals(encoding, "gzip")) return gunzip(r, c);
    return nullptr;  // never encoded twice
  }
  const int status = resp.status == 0 ? 200 : resp.status;
  if (status != 200 && status != 403 && status != 404) return nullptr;
  const std::string_view type = content_type(resp);
  const int64_t len = resp.content_length;
  unsigned allowed = 0;
  auto consider = [&](const CodingConf& cc, Coding coding) {
    if (!cc.on || (len >= 0 && len < cc.min_length) || !cc.types.matches(type)) return;
    allowed |= coding_bit(coding);
  };
  consider(c.gzip, Coding::kGzip);
  consider(c.brotli, Coding::kBrotli);
  consider(c.zstd, Coding::kZstd);
  if (!allowed) return nullptr;
  // Compressible: the response varies by Accept-Encoding whether or not this client takes it.
  if (c.gzip_vary) add_vary(resp);
  const AcceptEncoding ae = client_codings(r);
  if ((allowed & coding_bit(Coding::kGzip)) && !gzip_client_ok(r, c))
    allowed &= ~coding_bit(Coding::kGzip);
  const Coding pick = choose_coding(ae, allowed);
  if (pick == Coding::kNone) return nullptr;

  http::BodyFilter* f = nullptr;
  if (!resp.header_only) {
    CoderParams p;
    size_t out_cap = kStreamOutBuffer;
    CoderKind kind = CoderKind::kGzip;
    switch (pick) {
      case Coding::kGzip:
        p.level = c.gzip.level;
        size_gzip_window(len, &p.window_bits, &p.mem_level);
        out_cap = buffer_size(c.gzip_bufs_num, c.gzip_bufs_size);
        break;
      case Coding::kBrotli:
        kind = CoderKind::kBrotli;
        p.level = c.brotli.level;
        p.window_bits = c.brotli_window_bits;
        break;
      case Coding::kZstd:
        kind = CoderKind::kZstd;
        p.level = c.zstd.level;
        p.window_bits = 0;
        break;
      case Coding::kNone:
        break;
    }
    p.size_hint = len;
    f = start_filter(r, kind, p, out_cap);
    if (!f) return nullptr;  // out of memory: sent as it is
  }
  resp.add("Content-Encoding", coding_name(pick));
  transformed_head(resp);
  return f;
}

void precompressed_lookup(const Request& r, static_files::PrecompressedChoice& out) {
  out.count = 0;
  if (!r.loc) return;
  const CompressConf& c = r.loc->conf<CompressConf>();
  if (c.gzip.static_mode == StaticMode::kOff && c.brotli.static_mode == StaticMode::kOff &&
      c.zstd.static_mode == StaticMode::kOff)
    return;
  const AcceptEncoding ae = client_codings(r);
  struct Candidate {
    Coding coding;
    std::string_view suffix;
    StaticMode mode;
    bool accepted;
    int key;
  } cands[3] = {
      {Coding::kBrotli, ".br", c.brotli.static_mode, ae.accepts(Coding::kBrotli), 0},
      {Coding::kZstd, ".zst", c.zstd.static_mode, ae.accepts(Coding::kZstd), 0},
      {Coding::kGzip, ".gz", c.gzip.static_mode, gzip_ok(r, c), 0},
  };
  for (Candidate& k : cands) {
    const bool serve = k.accepted || k.mode == StaticMode::kAlways;
    // Best first: what the client takes, by its weight; then `always`; then those only
    // looked at for Vary.
    k.key = k.mode == StaticMode::kOff ? -1
            : k.accepted               ? 2 + ae.weight(k.coding)
            : serve                    ? 1
            : c.gzip_vary              ? 0
                                       : -1;
  }
  // Stable by key, descending: br, zstd, gzip keep their order at equal weight.
  for (int pass = 0; pass < 3; ++pass)
    for (int i = 0; i + 1 < 3; ++i)
      if (cands[i + 1].key > cands[i].key) std::swap(cands[i], cands[i + 1]);
  for (const Candidate& k : cands) {
    if (k.key < 0) continue;
    out.variants[out.count++] = {k.suffix, coding_name(k.coding), k.key >= 1};
  }
  out.vary = c.gzip_vary;
}

}  // namespace portico::compress
