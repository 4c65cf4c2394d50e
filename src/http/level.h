// Level: what a directive's setter sees while the http{} configuration is built: the settings
// of the level being built (http, server, location, nested location, if), the module's own
// settings at that level, and the builder's services (errors with file:line, value parsers,
// complex-value compilation, the http-wide tables). Control thread only, at load and reload.
//
// Generic setters for the common shapes (nginx's ngx_conf_set_flag_slot, _msec_slot,
// _size_slot, _num_slot) are templates on the field they set, so a directive is one row:
//
//   {{"sendfile", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_flag<&LocationConf::sendfile>},
//   {{"proxy_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_flag<&ProxyConf::buffering>},
//
// A field of LocationConf is set on the level's LocationConf; a field of a module's ModuleConf
// type T (which names its module with `static Module& module()`) on the level's T.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "core/log_file.h"
#include "http/http_config.h"
#include "http/module.h"

namespace portico::http {

// The context sets most http directives use: http, server, location (and `if` in a location).
inline constexpr uint32_t kHSL = config::kHttp | config::kServer | config::kLocation;
inline constexpr uint32_t kHSLI = kHSL | config::kLocationIf;
inline constexpr uint32_t kSL = config::kServer | config::kLocation;

// What the builder lends a level (implemented in http/builder.cpp).
class LevelHost {
 public:
  virtual ~LevelHost() = default;
  virtual HttpConf& http() = 0;
  virtual const HttpConf* previous() = 0;
  virtual int workers() = 0;
  // The snapshot's access log files (one LogFile per path, http and stream).
  virtual LogFiles& log_files() = 0;
  virtual void error(const std::string& file, int line, std::string msg) = 0;
  virtual void warn(std::string msg) = 0;
  // Builds the block of an `if` as a level of its own that starts from `parent` (complete),
  // its statements going to `script`. Returns the if-level's settings (owned by the HttpConf).
  virtual const LocationConf* build_if_level(const config::Directive& d, const LocationConf& parent,
                                             uint32_t context, RewriteScript& script) = 0;
};

class Level {
 public:
  Level(LevelHost& host, LocationConf& loc, uint32_t context, RewriteScript* script)
      : loc(loc), context(context), script(script), host_(host) {}

  LocationConf& loc;  // this level's settings
  uint32_t context;   // config::kHttp, kServer, kLocation, kServerIf or kLocationIf
  // Where rewrite-module statements of this level go (null at http level).
  RewriteScript* script;
  // The location this level belongs to (empty at http and server level) and its kind: a
  // proxy_pass URI is refused in regex and named locations and inside `if`.
  std::string_view location;
  bool regex_location = false;
  bool named_or_if = false;

  HttpConf& http() { return host_.http(); }
  VariableTable& vars() { return host_.http().vars; }
  const std::string& prefix() { return host_.http().prefix; }
  // The running configuration's http{} on reload (peer state is carried over), else null.
  const HttpConf* previous() { return host_.previous(); }
  int workers() { return host_.workers(); }
  LevelHost& host() { return host_; }

  // This level's settings of module conf type T.
  template <class T>
  T& conf() {
    return static_cast<T&>(*loc.mods[size_t(T::module().index)]);
  }

  // The http-wide settings of module conf type T (created with the http level).
  template <class T>
  T& main_conf() {
    return static_cast<T&>(*host_.http().main_mods[size_t(T::module().index)]);
  }

  // Reports an error at d's file:line (the build goes on, to report every error).
  void error(const config::Directive& d, std::string msg) {
    host_.error(d.file, d.line, std::move(msg));
  }
  void warn(std::string msg) { host_.warn(std::move(msg)); }

  // True the first time a directive named d.name is applied at this level: an array directive
  // then drops what it inherited (nginx's merge: a level's own list replaces its parent's).
  bool first(const config::Directive& d) { return first_key(d.name); }
  // The same for a key shared by several directives (allow and deny share one list).
  bool first_key(std::string_view key);
  // Whether first()/first_key() saw `key` at this level.
  bool used(std::string_view key) const;

  // Value parsers: false (and an error in nginx's words) when `text` is not valid.
  bool flag(const config::Directive& d, bool* out);                             // on|off
  bool msec(const config::Directive& d, std::string_view text, uint64_t* out);  // 10s, 1m
  bool size(const config::Directive& d, std::string_view text, uint64_t* out);  // 4k, 1m
  bool number(const config::Directive& d, std::string_view text, uint64_t* out);
  // Compiles a complex value ("$host$uri") against the http variables.
  bool value(const config::Directive& d, std::string_view text, ComplexValue* out);

  // Per-level bookkeeping for first().
  std::vector<std::string_view> seen;

 private:
  LevelHost& host_;
};

namespace detail {
template <class M>
struct member;
template <class C, class T>
struct member<T C::*> {
  using owner = C;
  using type = T;
};
template <auto F>
auto& field(Level& lv) {
  using C = typename member<decltype(F)>::owner;
  if constexpr (std::is_same_v<C, LocationConf>)
    return lv.loc.*F;
  else
    return lv.conf<C>().*F;
}
}  // namespace detail

// on|off into a bool field.
template <auto F>
void set_flag(Level& lv, const config::Directive& d) {
  lv.flag(d, &detail::field<F>(lv));
}

// A time ("60s", "500ms") into a uint64_t field of milliseconds.
template <auto F>
void set_msec(Level& lv, const config::Directive& d) {
  uint64_t v;
  if (lv.msec(d, d.args[0], &v)) detail::field<F>(lv) = v;
}

// A size ("4k", "1m") into an integer field.
template <auto F>
void set_size(Level& lv, const config::Directive& d) {
  uint64_t v;
  if (lv.size(d, d.args[0], &v))
    detail::field<F>(lv) = static_cast<typename detail::member<decltype(F)>::type>(v);
}

// A plain number into an integer field.
template <auto F>
void set_number(Level& lv, const config::Directive& d) {
  uint64_t v;
  if (lv.number(d, d.args[0], &v))
    detail::field<F>(lv) = static_cast<typename detail::member<decltype(F)>::type>(v);
}

// A directive accepted for compatibility whose single argument is a size (hash table sizing:
// portico's tables grow as needed).
void accept_size(Level& lv, const config::Directive& d);
// A directive accepted and ignored.
void accept_any(Level& lv, const config::Directive& d);

}  // namespace portico::http
