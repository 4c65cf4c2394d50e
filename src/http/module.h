// The http module contract: what a module (static, proxy, rewrite, access, realip, headers, log,
// and next apps, TLS, compression) hands the http host so that the host never names it.
//
// As nginx's ngx_command_t tables and h2o's configurator beside each handler: a module lists
// its directives, one row each (name, contexts, arguments, setter); its location settings are
// a ModuleConf of its own type that the builder creates, copies into nested levels and passes
// to the setters; a module may name a content handler for a location; its variables are rows
// in its own variable table. The list of modules is assembled above the modules
// (server/modules.cpp), so adding one never touches http/.
//
//   const Command kCommands[] = {
//       {{"proxy_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true},
//       set_flag<&ProxyConf::buffering>},
//   };
//   Module proxy_module = {.name = "proxy", .commands = kCommands,
//                          .create_conf = create<ProxyConf>};
//
// Inheritance (nginx's merge): a level (server, location, nested location, if) starts as a
// copy of its parent's settings, every module's included, then its own directives apply. An
// array directive (add_header, proxy_set_header ...) given at a level replaces the inherited
// list: its setter asks Level::first(). What must see the complete level (defaults that depend
// on other directives, health_check needing proxy_pass) goes in Module::finish_level.
//
// Modules are registered once at start-up, before any thread runs; everything here is then
// read-only and safe to read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "config/ast.h"
#include "config/registry.h"
#include "core/event_loop.h"
#include "http/step.h"
#include "http/variables.h"

namespace portico::upstream {
class Local;
}

namespace portico::http {

struct LocationConf;
struct HttpConf;
class Level;
struct Request;
class Connection;
class ClientStream;
class BodyFilter;

// A module's location-level settings (nginx's loc_conf of one module).
class ModuleConf {
 public:
  virtual ~ModuleConf() = default;
  // A copy for a nested level (inheritance starts from the parent's values).
  virtual std::unique_ptr<ModuleConf> clone() const = 0;
};

// CRTP helper: `struct ProxyConf : ModuleConfOf<ProxyConf> { ... };`
template <class T>
class ModuleConfOf : public ModuleConf {
 public:
  std::unique_ptr<ModuleConf> clone() const override {
    return std::make_unique<T>(static_cast<const T&>(*this));
  }
};

// Applies directive `d` at the level being built. Errors go through lv (file:line of d).
using Setter = void (*)(Level& lv, const config::Directive& d);

// When a directive is applied within its level.
enum class When : uint8_t {
  kInOrder,  // with the level's simple directives, in file order (most directives)
  kScript,   // rewrite-module statements: after the simple ones, in file order (`if` inherits
             // the complete level)
  kAfter,    // after the level is complete and finish_level ran (health_check, try_files)
  kBuilder,  // structural (server, location, listen, upstream, map ...): the builder's own
};

// One directive: its registry entry (validation: name, contexts, argument count, block kind,
// unique) and what applies it.
struct Command {
  config::DirectiveSpec spec;
  Setter set = nullptr;  // null for When::kBuilder
  When when = When::kInOrder;
};

// Content of a location that produces the response over time (the proxy): it reads the body and
// writes the response through the connection's ClientStream (http/client_stream.h), never the
// socket. The connection forwards client events to it (resume: the client can take more, or
// sent more) until it reports the end through the stream, and destroys it through the loop's
// deferred deletion.
class ContentSession : public Deferred {
 public:
  // Begins producing the response; may finish before it returns.
  virtual void start() = 0;
  // Client events (epoll mask) while the session runs.
  virtual void on_client_io(uint32_t events) = 0;
  // The connection is closing (graceful stop timeout, fatal error): release the upstream side.
  virtual void abort() = 0;
};

// Who produces a location's response (nginx's clcf->handler). The static module's is the
// default; a module's directive (proxy_pass, passenger_enabled ...) sets Level::loc's content.
struct ContentHandler {
  std::string_view name;
  // Runs the content phase for r: Step::respond() when r.resp is ready, a status (error_page
  // applies), an internal redirect, or Step::take_over(): `open` then produces the response.
  Step (*handle)(Request& r) = nullptr;
  // For Step::take_over(): the session that produces the response through `c` (the request's
  // HTTP/1.1 connection or HTTP/2 stream).
  ContentSession* (*open)(ClientStream* c, Request* r) = nullptr;
  // nginx's clcf->auto_redirect: a request for a prefix location's name without its trailing
  // '/' ("/app" for `location /app/`) is redirected there (301) instead of going elsewhere.
  bool auto_redirect = false;
};

// What an access-phase handler decides (nginx's NGX_DECLINED / NGX_OK / 401 / 403 / error);
// `satisfy all|any` combines the verdicts of allow/deny and the modules' handlers.
enum class AccessVerdict : int16_t {
  kDeclined = 0,  // nothing to say here (no rule, auth_basic off)
  kAllow = 1,
  kUnauthorized = 401,  // the handler added its WWW-Authenticate to r.resp
  kForbidden = 403,
  kError = 500,
};

// Per-worker state of a module (the proxy's recycled buffers). Created by each
// worker for each module that has one; lives on that worker's thread.
class ModuleWorkerState {
 public:
  virtual ~ModuleWorkerState() = default;
};

struct Module {
  // (Fields in this order; modules use designated initializers.)
  std::string_view name;  // e.g. "proxy", for logs and -V
  std::span<const Command> commands;
  // Variables the module provides ($upstream_addr ...), registered with it.
  std::span<const VariableDef> variables;
  // Location-level settings; null when the module has none.
  std::unique_ptr<ModuleConf> (*create_conf)() = nullptr;
  // http-wide settings (HttpConf::main_mods); null when the module has none.
  std::unique_ptr<ModuleConf> (*create_main_conf)() = nullptr;
  // Before the http{} block's levels: blocks at http level built first (upstream, map, match).
  void (*begin_http)(Level& http_level, const config::Directive& http) = nullptr;
  // After a level's directives applied (kInOrder ones): defaults that need the whole level.
  void (*finish_level)(Level& lv) = nullptr;
  // After every server is built.
  void (*end_http)(Level& http_level) = nullptr;
  // Per-worker state (Connection::module_state); null when the module has none.
  std::unique_ptr<ModuleWorkerState> (*create_worker_state)(EventLoop& loop,
                                                            upstream::Local& upstreams) = nullptr;
  // The preaccess phase (after realip, before access): Step::next(), a status (limit_req's
  // 503), or Step::delay() with r.delay_ms set. Runs on the worker thread; never blocks.
  Step (*preaccess)(Request& r) = nullptr;
  // The access phase, after allow/deny: the module's verdict for r (auth_basic). Runs on the
  // worker thread; may block only as nginx does (reading a password file).
  AccessVerdict (*access)(Request& r) = nullptr;
  // A response body filter for r (compression), asked when r.resp is complete and its head is
  // about to be serialized; null: none. The filter's on_head runs next; it is released when
  // the request ends (BodyFilter::release).
  BodyFilter* (*body_filter)(Request& r) = nullptr;
  // Slot of this module's ModuleConf in LocationConf; set when registered.
  int index = -1;
};

// The registered http modules, in registration order (which is also the order of their
// finish_level hooks). Filled once at start-up.
std::span<Module* const> modules();
// The content handler of locations no module claims (the static module's), set once at
// start-up.
const ContentHandler& default_content();
void set_default_content(const ContentHandler& h);
// Registers `m` (assigns m.index). REQUIRES: called before any configuration is built, from
// one thread.
void register_module(Module& m);
// The first body filter a registered module offers for r (Module::body_filter), or null.
BodyFilter* find_body_filter(Request& r);
// The command named `name` allowed in `context`, or null.
const Command* find_command(std::string_view name, uint32_t context);
// Adds every registered module's directives to `r` (validation).
void register_directives(config::Registry& r);

template <class T>
std::unique_ptr<ModuleConf> create_conf() {
  return std::make_unique<T>();
}

}  // namespace portico::http
