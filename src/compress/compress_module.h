// The compression module as the http host sees it: nginx's ngx_http_gzip_module,
// ngx_http_gzip_static_module and ngx_http_gunzip_module, and ngx_brotli's and zstd-nginx-module's
// directives, with one body filter (compress/filter.h) that the response path asks for through
// Module::body_filter, and the precompressed-file lookup the static module calls
// (gzip_static, brotli_static, zstd_static).
//
// Settings are built on the control thread and read-only afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compress/accept_encoding.h"
#include "core/regex.h"
#include "http/module.h"

namespace portico::static_files {
struct PrecompressedChoice;
}

namespace portico::compress {

extern http::Module compress_module;

// gzip_proxied flags (nginx's NGX_HTTP_GZIP_PROXIED_*).
enum Proxied : uint16_t {
  kProxiedOff = 1 << 0,
  kProxiedExpired = 1 << 1,
  kProxiedNoCache = 1 << 2,
  kProxiedNoStore = 1 << 3,
  kProxiedPrivate = 1 << 4,
  kProxiedNoLastModified = 1 << 5,
  kProxiedNoEtag = 1 << 6,
  kProxiedAuth = 1 << 7,
  kProxiedAny = 1 << 8,
};

enum class StaticMode : uint8_t { kOff, kOn, kAlways };

// MIME types a coding applies to (`gzip_types`, `brotli_types`, `zstd_types`): text/html always,
// "*" any.
struct TypeList {
  std::vector<std::string> types;  // lowercased, without parameters
  bool any = false;
  bool matches(std::string_view content_type) const;
};

// One on-the-fly coding's settings.
struct CodingConf {
  bool on = false;
  TypeList types;
  int64_t min_length = 20;
  int level = 1;
  StaticMode static_mode = StaticMode::kOff;
};

struct CompressConf : http::ModuleConfOf<CompressConf> {
  static http::Module& module() { return compress_module; }
  CodingConf gzip;
  CodingConf brotli{.level = 6};
  CodingConf zstd{.level = 1};
  // gzip_buffers: the output buffer is number * size, bounded (see filter.cpp).
  uint32_t gzip_bufs_num = 32;
  uint32_t gzip_bufs_size = 4096;
  int brotli_window_bits = 19;  // brotli_window 512k
  int gzip_http_version = 11;   // 10 or 11
  uint16_t gzip_proxied = kProxiedOff;
  bool gzip_vary = false;
  bool disable_msie6 = false;
  std::vector<std::shared_ptr<const Regex>> disable;  // gzip_disable regexes (User-Agent)
  bool gunzip = false;
  uint32_t gunzip_bufs_num = 32;
  uint32_t gunzip_bufs_size = 4096;
};

// The static module's question (static_files::PrecompressedLookup): which precompressed files
// may answer r.
void precompressed_lookup(const http::Request& r, static_files::PrecompressedChoice& out);

// nginx's ngx_http_gzip_ok for r: the client takes gzip (Accept-Encoding, gzip_http_version,
// gzip_disable, and gzip_proxied when the request came through a proxy: Via). Reads r.resp
// for gzip_proxied's response tests.
bool gzip_ok(const http::Request& r, const CompressConf& c);

}  // namespace portico::compress
