// The charset module's directives and its response hook; the tables and the recoder are
// static/charset.cpp.
#include "static/charset_module.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.h"
#include "core/strings.h"
#include "http/body_filter.h"
#include "http/connection.h"
#include "http/level.h"
#include "http/phases.h"
#include "static/charset.h"

namespace portico::static_files {

using config::BlockKind;
using config::Directive;
using http::Command;
using http::kHSL;
using http::kHSLI;
using http::Level;
using http::Request;
using namespace config;  // context constants

namespace {

// charset / source_charset: off, a charset, or a variable naming one.
struct CharsetRef {
  static constexpr int kOff = -2;
  int index = kOff;  // Charsets index when fixed (kOff: off)
  bool variable = false;
  http::ComplexValue value;
};

struct CharsetMainConf : http::ModuleConfOf<CharsetMainConf> {
  static http::Module& module() { return charset_module; }
  Charsets charsets;
  std::vector<std::string> reported;  // finish_level's errors, once each
};

struct CharsetConf : http::ModuleConfOf<CharsetConf> {
  static http::Module& module() { return charset_module; }
  CharsetRef charset, source;
  bool override_charset = false;
  bool any_type = false;
  // charset_types, in addition to text/html (nginx's defaults until the directive is given).
  std::vector<std::string> types{"text/xml", "text/plain", "text/vnd.wap.wml",
                                 "application/javascript", "application/rss+xml"};
};

void set_ref(Level& lv, const Directive& d, CharsetRef* ref) {
  const std::string& a = d.args[0];
  *ref = CharsetRef{};
  if (a == "off") return;
  if (a.find('$') != std::string::npos) {
    ref->variable = true;
    lv.value(d, a, &ref->value);
    return;
  }
  ref->index = lv.main_conf<CharsetMainConf>().charsets.add(a);
}

void set_charset(Level& lv, const Directive& d) {
  set_ref(lv, d, &lv.conf<CharsetConf>().charset);
}

void set_source_charset(Level& lv, const Directive& d) {
  set_ref(lv, d, &lv.conf<CharsetConf>().source);
}

void set_types(Level& lv, const Directive& d) {
  CharsetConf& c = lv.conf<CharsetConf>();
  c.types.clear();
  c.any_type = false;
  for (const std::string& t : d.args) {
    if (t == "*")
      c.any_type = true;
    else
      c.types.push_back(t);
  }
}

void build_map(Level& lv, CharsetMainConf& mc, const Directive& d) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const Directive& e : d.block) {
    if (e.args.size() != 1) {
      lv.error(e, "invalid parameters number");
      return;
    }
    entries.emplace_back(e.name, e.args[0]);
  }
  std::string err;
  if (!mc.charsets.add_map(d.args[0], d.args[1], entries, &err)) lv.error(d, err);
}

void begin_http(Level& lv, const Directive& http) {
  CharsetMainConf& mc = lv.main_conf<CharsetMainConf>();
  for (const auto& d : http.block)
    if (d.name == "charset_map") build_map(lv, mc, d);
}

// A level with a fixed charset and source_charset must have a map between them (nginx checks
// the pairs after the configuration is read).
void finish_level(Level& lv) {
  const CharsetConf& c = lv.conf<CharsetConf>();
  if (c.charset.variable || c.source.variable || c.charset.index < 0 || c.source.index < 0 ||
      c.charset.index == c.source.index)
    return;
  const Charsets& cs = lv.main_conf<CharsetMainConf>().charsets;
  if (cs.table(c.source.index, c.charset.index)) return;
  const std::string msg = fmt::format("no \"charset_map\" between the charsets \"{}\" and \"{}\"",
                                      cs.name(c.source.index), cs.name(c.charset.index));
  // Reported once per pair, as nginx does.
  for (const std::string& seen : lv.main_conf<CharsetMainConf>().reported)
    if (seen == msg) return;
  lv.main_conf<CharsetMainConf>().reported.push_back(msg);
  lv.host().error("", 0, msg);
}

// ---- the response -----------------------------------------------------------------------------

struct Resolved {
  int index = Charsets::kNone;
  std::string_view name;
};

// A CharsetRef for r: its index and name (a variable's value lives in `buf`).
Resolved resolve(Request& r, const Charsets& cs, const CharsetRef& ref, std::string& buf) {
  if (!ref.variable) return {ref.index, cs.name(ref.index)};
  buf.clear();
  ref.value.eval(r, buf);
  return {cs.find(buf), buf};
}

// The Content-Type r's response carries: the handler's, or a proxied field.
std::string_view* content_type_slot(http::Response& resp) {
  if (!resp.content_type.empty()) return &resp.content_type;
  for (http::Header& h : resp.fields)
    if (iequals(h.name, "content-type")) return &h.value;
  return nullptr;
}

bool has_encoding(const http::Response& resp) {
  for (size_t i = 0; i < resp.header_count; ++i)
    if (iequals(resp.headers[i].name, "content-encoding") && !resp.headers[i].value.empty())
      return true;
  for (const http::Header& h : resp.fields)
    if (iequals(h.name, "content-encoding") && !h.value.empty()) return true;
  return false;
}

bool type_matches(const CharsetConf& c, std::string_view type) {
  if (c.any_type || iequals(type, "text/html")) return true;
  for (const std::string& t : c.types)
    if (iequals(type, t)) return true;
  return false;
}

// Sets "TYPE; charset=NAME" (nginx leaves redirects without a charset).
void set_type(http::Response& resp, std::string_view* slot, std::string_view type,
              std::string_view name) {
  const int st = resp.status == 0 ? 200 : resp.status;
  std::string v = fmt::format("{}; charset={}", type, name);
  if (st == 301 || st == 302) v.assign(type);
  resp.content_type_buf = std::move(v);
  *slot = resp.content_type_buf;
}

// nginx's header filter. Returns the table to recode the body with, or null.
const CharsetTable* decide(Request& r) {
  if (!r.loc || !r.http) return nullptr;
  const CharsetConf& c = r.loc->conf<CharsetConf>();
  if (c.charset.index == CharsetRef::kOff && !c.charset.variable) return nullptr;
  http::Response& resp = r.resp;
  std::string_view* slot = content_type_slot(resp);
  if (!slot || slot->empty()) return nullptr;
  const ContentTypeParts parts = split_content_type(*slot);
  if (!parts.charset.empty()) {
    if (!c.override_charset) return nullptr;
  } else if (!type_matches(c, parts.type)) {
    return nullptr;
  }
  const Charsets& cs = r.http->main_conf<CharsetMainConf>()->charsets;
  thread_local std::string dst_buf, src_buf;
  const Resolved dst = resolve(r, cs, c.charset, dst_buf);
  Resolved src;
  if (!parts.charset.empty()) {
    src_buf.assign(parts.charset);
    src = {cs.find(src_buf), src_buf};
  } else if (c.source.index == CharsetRef::kOff && !c.source.variable) {
    set_type(resp, slot, parts.type, dst.name);
    return nullptr;
  } else {
    src = resolve(r, cs, c.source, src_buf);
  }
  const std::string type(parts.type);  // the slot is rewritten below
  if (dst.index == Charsets::kNone || src.index == Charsets::kNone || src.index == dst.index) {
    if (src.index == dst.index && iequals(src.name, dst.name)) {
      set_type(resp, slot, type, dst.name);
      return nullptr;
    }
  } else if (has_encoding(resp)) {
    return nullptr;
  } else if (const CharsetTable* t = cs.table(src.index, dst.index)) {
    set_type(resp, slot, type, dst.name);
    return t;
  }
  PORTICO_LOG(LogLevel::kError, r.conn ? r.conn->id() : 0,
              "no \"charset_map\" between the charsets \"{}\" and \"{}\"{}", src.name, dst.name,
              http::log_context(r));
  return nullptr;
}

// Recodes a response body (memory or file pieces) through one table, holding at most one
// output buffer; as compress/filter.cpp's CompressFilter.
class RecodeFilter final : public http::BodyFilter {
 public:
  explicit RecodeFilter(std::vector<RecodeFilter*>& pool) : pool_(pool) {}
  void begin(const CharsetTable* t) {
    rec_.start(t);
    out_.clear();
    out_off_ = 0;
    finished_ = false;
  }
  void on_head(Request&) override {}
  bool pending() const override { return out_off_ < out_.size(); }
  void release() override {
    if (pool_.size() < 16) {
      pool_.push_back(this);
      return;
    }
    delete this;
  }
  IoResult write(std::span<const http::OutChunk> body, size_t skip, bool last,
                 http::BodySink& next) override;

 private:
  static constexpr size_t kPiece = 8 * 1024;  // input recoded at a time
  std::vector<RecodeFilter*>& pool_;
  Recoder rec_;
  std::string out_;
  size_t out_off_ = 0;
  char in_[kPiece];
  bool finished_ = false;
};

IoResult RecodeFilter::write(std::span<const http::OutChunk> body, size_t skip, bool last,
                             http::BodySink& next) {
  size_t taken = 0;
  for (;;) {
    if (out_off_ < out_.size()) {
      http::OutChunk c{out_.data() + out_off_, out_.size() - out_off_, -1, 0};
      IoResult w = next.write(std::span<const http::OutChunk>(&c, 1), 0, false);
      if (!w.progress()) return w.again() && taken > 0 ? IoResult::moved(taken) : w;
      out_off_ += w.bytes();
      if (out_off_ < out_.size()) continue;
      out_.clear();
      out_off_ = 0;
    }
    size_t pos = skip + taken;
    const http::OutChunk* piece = nullptr;
    for (const http::OutChunk& c : body) {
      if (pos < c.len) {
        piece = &c;
        break;
      }
      pos -= c.len;
    }
    if (piece) {
      const size_t want = std::min(piece->len - pos, kPiece);
      std::string_view in;
      if (piece->fd < 0) {
        in = std::string_view(piece->data + pos, want);
      } else {
        const ssize_t n = ::pread(piece->fd, in_, want, piece->offset + off_t(pos));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return IoResult::failed(errno);
        if (n == 0) return IoResult::ended();  // the file was truncated
        in = std::string_view(in_, size_t(n));
      }
      rec_.recode(in, out_);
      taken += in.size();
      continue;
    }
    if (last && !finished_) {
      finished_ = true;
      rec_.finish(out_);
      if (!out_.empty()) continue;
    }
    // Everything taken went out: let the codec frame (and end) the body.
    if (taken > 0) return IoResult::moved(taken);
    return next.write({}, 0, last);
  }
}

struct RecodePool : http::ModuleWorkerState {
  std::vector<RecodeFilter*> free;
  ~RecodePool() override {
    for (RecodeFilter* f : free) delete f;
  }
};

std::unique_ptr<http::ModuleWorkerState> create_pool(EventLoop&, upstream::Local&) {
  return std::make_unique<RecodePool>();
}

http::BodyFilter* body_filter_for(Request& r) {
  if (r.resp.upgrade) return nullptr;
  const CharsetTable* t = decide(r);
  if (!t || r.resp.header_only || !r.conn) return nullptr;
  if (t->kind != CharsetTable::Kind::kByte) r.resp.content_length = -1;
  auto& pool = static_cast<RecodePool&>(*r.conn->module_state(charset_module));
  RecodeFilter* f;
  if (pool.free.empty()) {
    f = new RecodeFilter(pool.free);
  } else {
    f = pool.free.back();
    pool.free.pop_back();
  }
  f->begin(t);
  return f;
}

const Command kCommands[] = {
    {{"charset", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_charset},
    {{"source_charset", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_source_charset},
    {{"override_charset", kHSLI, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&CharsetConf::override_charset>},
    {{"charset_types", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_types},
    {{"charset_map", kHttp, 2, 2, BlockKind::kFreeform, kTypes, false},
     nullptr,
     http::When::kBuilder},
};

}  // namespace

bool apply_charset_type(Request& r) {
  return decide(r) != nullptr;
}

http::Module charset_module = {.name = "charset",
                               .commands = kCommands,
                               .create_conf = http::create_conf<CharsetConf>,
                               .create_main_conf = http::create_conf<CharsetMainConf>,
                               .begin_http = begin_http,
                               .finish_level = finish_level,
                               .create_worker_state = create_pool,
                               .body_filter = body_filter_for};

}  // namespace portico::static_files
