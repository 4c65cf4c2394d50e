// The compression module's directives: nginx's gzip_*, gzip_static, gunzip, gunzip_buffers;
// ngx_brotli's brotli_*; zstd-nginx-module's zstd_*. One row per directive in kCommands; setters
// below them. Control thread, while a snapshot is built. And the module itself: its worker
// state (the filter pool), its body filter hook and $gzip_ratio.
#include <fmt/format.h>

#include <bit>

#include "compress/compress_module.h"
#include "compress/filter.h"
#include "core/strings.h"
#include "http/level.h"
#include "http/request.h"

namespace portico::compress {

using config::BlockKind;
using config::Directive;
using http::Command;
using http::kHSL;
using http::kHSLI;
using http::Level;
using namespace config;  // context constants

namespace {

template <CodingConf CompressConf::*C>
void set_on(Level& lv, const Directive& d) {
  lv.flag(d, &(lv.conf<CompressConf>().*C).on);
}

template <CodingConf CompressConf::*C>
void set_types(Level& lv, const Directive& d) {
  TypeList& tl = (lv.conf<CompressConf>().*C).types;
  if (lv.first(d)) {
    tl.types.clear();
    tl.any = false;
  }
  for (const std::string& a : d.args) {
    if (a == "*") {
      tl.any = true;
      continue;
    }
    std::string t;
    for (char ch : a) t += ascii_lower(ch);
    tl.types.push_back(std::move(t));
  }
}

template <CodingConf CompressConf::*C>
void set_min_length(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.size(d, d.args[0], &v)) (lv.conf<CompressConf>().*C).min_length = int64_t(v);
}

template <CodingConf CompressConf::*C, int Low, int High>
void set_level(Level& lv, const Directive& d) {
  auto v = parse_uint(d.args[0]);
  if (!v) {
    lv.error(d, fmt::format("invalid number \"{}\"", d.args[0]));
    return;
  }
  if (int64_t(*v) < Low || int64_t(*v) > High) {
    lv.error(d, fmt::format("value must be between {} and {}", Low, High));
    return;
  }
  (lv.conf<CompressConf>().*C).level = int(*v);
}

template <CodingConf CompressConf::*C>
void set_static(Level& lv, const Directive& d) {
  StaticMode& m = (lv.conf<CompressConf>().*C).static_mode;
  const std::string& a = d.args[0];
  if (a == "on")
    m = StaticMode::kOn;
  else if (a == "off")
    m = StaticMode::kOff;
  else if (a == "always")
    m = StaticMode::kAlways;
  else
    lv.error(d, fmt::format("invalid value \"{}\"", a));
}

// "number size" (gzip_buffers 16 8k).
template <uint32_t CompressConf::*Num, uint32_t CompressConf::*Size>
void set_buffers(Level& lv, const Directive& d) {
  auto n = parse_uint(d.args[0]);
  auto s = parse_size(d.args[1]);
  if (!n || *n == 0 || *n > 1024 || !s || *s == 0 || *s > 1024 * 1024) {
    lv.error(
        d, fmt::format("invalid value \"{}\"", !n || *n == 0 || *n > 1024 ? d.args[0] : d.args[1]));
    return;
  }
  CompressConf& c = lv.conf<CompressConf>();
  c.*Num = uint32_t(*n);
  c.*Size = uint32_t(*s);
}

void set_http_version(Level& lv, const Directive& d) {
  const std::string& a = d.args[0];
  if (a == "1.0")
    lv.conf<CompressConf>().gzip_http_version = 10;
  else if (a == "1.1")
    lv.conf<CompressConf>().gzip_http_version = 11;
  else
    lv.error(d, fmt::format("invalid value \"{}\"", a));
}

void set_proxied(Level& lv, const Directive& d) {
  static constexpr struct {
    std::string_view name;
    uint16_t bit;
  } kNames[] = {{"off", kProxiedOff},          {"expired", kProxiedExpired},
                {"no-cache", kProxiedNoCache}, {"no-store", kProxiedNoStore},
                {"private", kProxiedPrivate},  {"no_last_modified", kProxiedNoLastModified},
                {"no_etag", kProxiedNoEtag},   {"auth", kProxiedAuth},
                {"any", kProxiedAny}};
  uint16_t bits = 0;
  for (const std::string& a : d.args) {
    uint16_t bit = 0;
    for (const auto& n : kNames)
      if (a == n.name) bit = n.bit;
    if (!bit) {
      lv.error(d, fmt::format("invalid value \"{}\"", a));
      return;
    }
    bits |= bit;
  }
  // nginx's bitmask slot: "off" alone means off; with others, the others count.
  if ((bits & kProxiedOff) && bits != kProxiedOff) bits &= uint16_t(~kProxiedOff);
  lv.conf<CompressConf>().gzip_proxied = bits;
}

void set_disable(Level& lv, const Directive& d) {
  CompressConf& c = lv.conf<CompressConf>();
  if (lv.first(d)) {
    c.disable.clear();
    c.disable_msie6 = false;
  }
  for (const std::string& a : d.args) {
    if (a == "msie6") {
      c.disable_msie6 = true;
      continue;
    }
    std::string err;
    auto re = Regex::compile(a, /*caseless=*/true, &err);
    if (!re) {
      lv.error(d, err);
      continue;
    }
    c.disable.push_back(std::shared_ptr<const Regex>(std::move(re)));
  }
}

// brotli_window: a power of two from 1k to 16m; stored as its log2.
void set_brotli_window(Level& lv, const Directive& d) {
  auto v = parse_size(d.args[0]);
  if (!v || *v < 1024 || *v > 16 * 1024 * 1024 || !std::has_single_bit(*v)) {
    lv.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
    return;
  }
  lv.conf<CompressConf>().brotli_window_bits = std::countr_zero(*v);
}

void set_buffers_ignored(Level& lv, const Directive& d) {
  if (!parse_uint(d.args[0]) || !parse_size(d.args[1]))
    lv.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
}

const Command kCommands[] = {
    {{"gzip", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_on<&CompressConf::gzip>},
    {{"gzip_types", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_types<&CompressConf::gzip>},
    {{"gzip_min_length", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_min_length<&CompressConf::gzip>},
    {{"gzip_comp_level", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_level<&CompressConf::gzip, 1, 9>},
    {{"gzip_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true},
     set_buffers<&CompressConf::gzip_bufs_num, &CompressConf::gzip_bufs_size>},
    {{"gzip_http_version", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_http_version},
    {{"gzip_proxied", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_proxied},
    {{"gzip_vary", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&CompressConf::gzip_vary>},
    {{"gzip_disable", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_disable},
    {{"gzip_static", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_static<&CompressConf::gzip>},
    {{"gunzip", kHSL, 1, 1, BlockKind::kNone, 0, true}, http::set_flag<&CompressConf::gunzip>},
    {{"gunzip_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true},
     set_buffers<&CompressConf::gunzip_bufs_num, &CompressConf::gunzip_bufs_size>},
    {{"brotli", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_on<&CompressConf::brotli>},
    {{"brotli_types", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false},
     set_types<&CompressConf::brotli>},
    {{"brotli_min_length", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_min_length<&CompressConf::brotli>},
    {{"brotli_comp_level", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_level<&CompressConf::brotli, 0, 11>},
    {{"brotli_window", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_brotli_window},
    {{"brotli_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true}, set_buffers_ignored},
    {{"brotli_static", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_static<&CompressConf::brotli>},
    {{"zstd", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_on<&CompressConf::zstd>},
    {{"zstd_types", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_types<&CompressConf::zstd>},
    {{"zstd_min_length", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_min_length<&CompressConf::zstd>},
    {{"zstd_comp_level", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_level<&CompressConf::zstd, 1, 19>},
    {{"zstd_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true}, set_buffers_ignored},
    {{"zstd_static", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_static<&CompressConf::zstd>},
};

// $gzip_ratio: the input/output ratio of a gzip'd response, "%.2f" rounded as nginx does;
// not found for any other.
bool get_gzip_ratio(http::Request& r, const http::VarRef&, std::string& out) {
  auto* f = dynamic_cast<CompressFilter*>(r.filter);
  if (!f || f->kind() != CoderKind::kGzip || f->bytes_out() == 0) return false;
  const uint64_t in = f->bytes_in(), zout = f->bytes_out();
  uint64_t whole = in / zout;
  uint64_t frac = (in * 100 / zout) % 100;
  if ((in * 1000 / zout) % 10 > 4) {
    if (++frac > 99) {
      frac = 0;
      ++whole;
    }
  }
  out += fmt::format("{}.{:02}", whole, frac);
  return true;
}

const http::VariableDef kVariables[] = {
    {.name = "gzip_ratio", .get = get_gzip_ratio},
};

std::unique_ptr<http::ModuleWorkerState> create_pool(EventLoop&, upstream::Local&) {
  return std::make_unique<FilterPool>();
}

}  // namespace

http::Module compress_module = {.name = "compress",
                                .commands = kCommands,
                                .variables = kVariables,
                                .create_conf = http::create_conf<CompressConf>,
                                .create_worker_state = create_pool,
                                .body_filter = body_filter_for};

}  // namespace portico::compress
