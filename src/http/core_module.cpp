// The http core module's directives (nginx's ngx_http_core_module): content location
// (root, alias, types, try_files, internal), connection behaviour, limits and timeouts,
// error_page, redirects. Structural ones (server, location, listen, server_name, the
// server-level header buffers) are applied by the builder (http/builder.cpp) itself.
#include <fmt/format.h>

#include "core/strings.h"
#include "http/http_modules.h"
#include "http/level.h"
#include "http/user_agent.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

void set_root(Level& lv, const Directive& d) {
  const bool alias = d.name == "alias";
  if (alias && lv.loc.name.empty()) {
    lv.error(d, "\"alias\" directive is not allowed here");
    return;
  }
  std::string path = d.args[0];
  if (!path.empty() && path[0] != '/' && path[0] != '$') path = lv.prefix() + path;
  // nginx strips a trailing slash from root (not from alias).
  if (!alias && path.size() > 1 && path.back() == '/') path.pop_back();
  lv.value(d, path, &lv.loc.root);
  lv.loc.alias = alias;
  if (alias) {
    // nginx's clcf->alias: the location's name is replaced by the alias; in a regex location the
    // alias is the whole path. Nested locations inherit both.
    lv.loc.alias_regex = lv.regex_location;
    lv.loc.alias_prefix_len = lv.location.size();
  }
}

void set_default_type(Level& lv, const Directive& d) {
  lv.loc.default_type = d.args[0];
}

void set_types(Level& lv, const Directive& d) {
  auto table = std::make_unique<TypesMap>();
  for (const auto& t : d.block) {
    for (const auto& ext : t.args) (*table)[to_lower(ext)] = t.name;
  }
  lv.loc.types = table.get();
  lv.http().types_tables.push_back(std::move(table));
}

void set_internal(Level& lv, const Directive&) {
  lv.loc.internal = true;
}

void set_try_files(Level& lv, const Directive& d) {
  auto tf = std::make_unique<TryFiles>();
  for (size_t i = 0; i + 1 < d.args.size(); ++i) {
    // "NAME/" tests for a directory NAME (nginx strips the slash before evaluating).
    TryFiles::File f;
    std::string_view a = d.args[i];
    f.dir = a.size() > 1 && a.back() == '/';
    if (f.dir) a.remove_suffix(1);
    if (lv.value(d, std::string(a), &f.name)) tf->files.push_back(std::move(f));
  }
  const std::string& last = d.args.back();
  if (last.size() > 1 && last[0] == '=') {
    auto v = parse_uint(std::string_view(last).substr(1));
    if (!v || *v > 999)
      lv.error(d, "invalid code \"" + last + "\"");
    else
      tf->fallback_code = int(*v);
  } else {
    lv.value(d, last, &tf->fallback);
  }
  lv.loc.try_files = std::move(tf);
}

void set_keepalive_timeout(Level& lv, const Directive& d) {
  lv.msec(d, d.args[0], &lv.loc.keepalive_timeout);
  uint64_t header_ms;
  if (d.args.size() > 1 && lv.msec(d, d.args[1], &header_ms))
    lv.loc.keepalive_header = int64_t(header_ms / 1000);
}

void set_server_tokens(Level& lv, const Directive& d) {
  if (d.args[0] == "build")
    lv.loc.server_tokens = true;
  else
    lv.flag(d, &lv.loc.server_tokens);
}

void set_error_page(Level& lv, const Directive& d) {
  const auto& a = d.args;
  if (lv.first(d)) lv.loc.error_pages.clear();
  ErrorPage ep;
  size_t last = a.size() - 1;
  size_t codes_end = last;
  if (a[last - 1].size() >= 1 && a[last - 1][0] == '=') {
    codes_end = last - 1;
    std::string_view o = std::string_view(a[last - 1]).substr(1);
    if (o.empty()) {
      ep.overwrite = 0;
    } else if (auto v = parse_uint(o); v && *v >= 100 && *v <= 999) {
      ep.overwrite = int(*v);
    } else {
      lv.error(d, "invalid value \"" + a[last - 1] + "\"");
      return;
    }
  }
  for (size_t i = 0; i < codes_end; ++i) {
    auto v = parse_uint(a[i]);
    if (!v || *v < 300 || *v > 599) {
      lv.error(d, fmt::format("value \"{}\" must be between 300 and 599", a[i]));
      return;
    }
    ep.codes.push_back(int(*v));
  }
  if (ep.codes.empty()) {
    lv.error(d, "invalid number of arguments in \"error_page\" directive");
    return;
  }
  if (lv.value(d, a[last], &ep.uri)) lv.loc.error_pages.push_back(std::move(ep));
}

// client_body_temp_path PATH [LEVEL1 [LEVEL2 [LEVEL3]]]: each level 1 or 2 characters of the
// file's name (nginx's ngx_conf_set_path_slot).
void set_client_body_temp_path(Level& lv, const Directive& d) {
  TempLevels levels;
  size_t total = 0;
  for (size_t i = 1; i < d.args.size(); ++i) {
    auto l = parse_uint(d.args[i]);
    // nginx bounds only the sum (the name has ten digits to take the levels from).
    if (!l || *l < 1 || *l > 9 || total + *l > 9) {
      lv.error(d, "\"" + d.name + "\" directive invalid value");
      return;
    }
    levels.len[levels.count++] = uint8_t(*l);
    total += size_t(*l);
  }
  const std::string& path = d.args[0];
  lv.loc.client_body_temp_path = path[0] == '/' ? path : lv.prefix() + path;
  lv.loc.client_body_temp_levels = levels;
}

void set_client_body_in_file_only(Level& lv, const Directive& d) {
  const std::string& a = d.args[0];
  if (a == "off")
    lv.loc.client_body_in_file_only = BodyInFile::kOff;
  else if (a == "clean")
    lv.loc.client_body_in_file_only = BodyInFile::kClean;
  else if (a == "on")
    lv.loc.client_body_in_file_only = BodyInFile::kOn;
  else
    lv.error(d, "invalid value \"" + a + "\"");  // nginx's ngx_conf_set_enum_slot
}

// limit_rate RATE / limit_rate_after SIZE: sizes, variables allowed (nginx 1.17.0).
template <ComplexValue LocationConf::*V, bool LocationConf::*Has>
void set_rate_value(Level& lv, const Directive& d) {
  const std::string& a = d.args[0];
  if (a.find('$') == std::string::npos && !parse_size(a)) {
    lv.error(d, "\"" + d.name + "\" directive invalid value");
    return;
  }
  if (lv.value(d, a, &(lv.loc.*V))) lv.loc.*Has = true;
}

void set_lingering_close(Level& lv, const Directive& d) {
  using L = LocationConf::Linger;
  const std::string& a = d.args[0];
  if (a == "off")
    lv.loc.lingering_close = L::kOff;
  else if (a == "on")
    lv.loc.lingering_close = L::kOn;
  else if (a == "always")
    lv.loc.lingering_close = L::kAlways;
  else
    lv.error(d, "invalid value \"" + a + "\"");
}

// keepalive_disable none | msie6 | safari ... (nginx's bitmask slot).
void set_keepalive_disable(Level& lv, const Directive& d) {
  uint8_t mask = 0;
  for (const std::string& a : d.args) {
    if (a == "none") {
      mask = 0;
    } else if (a == "msie6") {
      mask |= kUaMsie6;
    } else if (a == "safari") {
      mask |= kUaSafari;
    } else {
      lv.error(d, fmt::format("invalid value \"{}\"", a));
      return;
    }
  }
  lv.loc.keepalive_disable = mask;
}

// limit_except METHOD ... { allow/deny/auth_basic ... }: built once the location is complete,
// as a level of its own starting from it (nginx's limit_except loc conf).
void set_limit_except(Level& lv, const Directive& d) {
  static constexpr std::string_view kMethods[] = {
      "GET",  "HEAD",    "POST",     "PUT",       "DELETE", "MKCOL",  "COPY",
      "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK",   "UNLOCK", "PATCH"};
  if (lv.loc.limit_except) {
    lv.error(d, "\"limit_except\" directive is duplicate");
    return;
  }
  std::vector<std::string> methods;
  for (const std::string& m : d.args) {
    bool known = false;
    for (std::string_view k : kMethods) known = known || m == k;
    if (!known) {
      lv.error(d, fmt::format("invalid method \"{}\"", m));
      return;
    }
    methods.push_back(m);
    if (m == "GET") methods.emplace_back("HEAD");
  }
  RewriteScript none;  // rewrite statements are not allowed inside
  lv.loc.limit_except = lv.host().build_if_level(d, lv.loc, kLimitExcept, none);
  lv.loc.limit_except_methods = std::move(methods);
}

void set_keepalive_requests(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.number(d, d.args[0], &v)) lv.loc.keepalive_requests = v;
}

void set_resolver(Level& lv, const Directive& d) {
  auto rc = std::make_shared<dns::ResolverConf>();
  std::string error;
  if (!dns::parse_resolver(d.args, rc.get(), &error)) {
    lv.error(d, error);
    return;
  }
  lv.loc.resolver = std::move(rc);
}

const Command kCommands[] = {
    // Structural: built by http/builder.cpp.
    {{"server", kHttp, 0, 0, BlockKind::kBlock, kServer, false}, nullptr, When::kBuilder},
    {{"location", kServer | kLocation, 1, 2, BlockKind::kBlock, kLocation, false},
     nullptr,
     When::kBuilder},
    {{"listen", kServer, 1, kAnyArgs, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"server_name", kServer, 1, kAnyArgs, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"client_header_timeout", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
     nullptr,
     When::kBuilder},
    {{"client_header_buffer_size", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
     nullptr,
     When::kBuilder},
    {{"large_client_header_buffers", kHttp | kServer, 2, 2, BlockKind::kNone, 0, true},
     nullptr,
     When::kBuilder},
    {{"ignore_invalid_headers", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
     nullptr,
     When::kBuilder},
    {{"underscores_in_headers", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
     nullptr,
     When::kBuilder},
    // Where content comes from.
    {{"root", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_root},
    {{"alias", kLocation, 1, 1, BlockKind::kNone, 0, true}, set_root},
    {{"types", kHSL, 0, 0, BlockKind::kFreeform, kTypes, true}, set_types},
    {{"default_type", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_default_type},
    {{"try_files", kSL, 2, kAnyArgs, BlockKind::kNone, 0, true}, set_try_files},
    {{"internal", kLocation, 0, 0, BlockKind::kNone, 0, true}, set_internal},
    {{"limit_except", kLocation, 1, kAnyArgs, BlockKind::kBlock, kLimitExcept, false},
     set_limit_except,
     When::kAfter},
    {{"error_page", kHSLI, 2, kAnyArgs, BlockKind::kNone, 0, false}, set_error_page},
    {{"recursive_error_pages", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::recursive_error_pages>},
    {{"log_not_found", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::log_not_found>},
    // Connection behaviour.
    {{"sendfile", kHSLI, 1, 1, BlockKind::kNone, 0, true}, set_flag<&LocationConf::sendfile>},
    {{"tcp_nopush", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_flag<&LocationConf::tcp_nopush>},
    {{"tcp_nodelay", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_flag<&LocationConf::tcp_nodelay>},
    {{"chunked_transfer_encoding", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::chunked_transfer_encoding>},
    {{"keepalive_timeout", kHSL, 1, 2, BlockKind::kNone, 0, true}, set_keepalive_timeout},
    {{"keepalive_requests", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_keepalive_requests},
    {{"keepalive_time", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::keepalive_time>},
    {{"keepalive_disable", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_keepalive_disable},
    {{"lingering_close", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_lingering_close},
    {{"lingering_time", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::lingering_time>},
    {{"lingering_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::lingering_timeout>},
    {{"client_body_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::client_body_timeout>},
    {{"send_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::send_timeout>},
    {{"client_max_body_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_size<&LocationConf::client_max_body_size>},
    {{"client_body_temp_path", kHSL, 1, 4, BlockKind::kNone, 0, true}, set_client_body_temp_path},
    {{"limit_rate", kHSLI, 1, 1, BlockKind::kNone, 0, true},
     set_rate_value<&LocationConf::limit_rate, &LocationConf::has_limit_rate>},
    {{"limit_rate_after", kHSLI, 1, 1, BlockKind::kNone, 0, true},
     set_rate_value<&LocationConf::limit_rate_after, &LocationConf::has_limit_rate_after>},
    {{"client_body_buffer_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_size<&LocationConf::client_body_buffer_size>},
    {{"client_body_in_file_only", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_client_body_in_file_only},
    {{"client_body_in_single_buffer", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::client_body_in_single_buffer>},
    {{"server_tokens", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_server_tokens},
    {{"merge_slashes", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::merge_slashes>},
    // Redirects the server makes (Location of 301/302, trailing-slash redirects).
    {{"absolute_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::absolute_redirect>},
    {{"port_in_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::port_in_redirect>},
    {{"server_name_in_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&LocationConf::server_name_in_redirect>},
    // Run-time DNS (dns/resolver.h).
    {{"resolver", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_resolver},
    {{"resolver_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_msec<&LocationConf::resolver_timeout>},
    // Per-server/location error logs are accepted; messages go to the main error logs.
    // Hash table sizing: portico's tables grow as needed, so these only get validated.
    {{"types_hash_max_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"types_hash_bucket_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"server_names_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"server_names_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"variables_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"variables_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"map_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"map_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    // Memory pool sizes: portico's buffers and arenas are sized by what they hold.
    {{"connection_pool_size", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true}, accept_size},
    {{"request_pool_size", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true}, accept_size},
};

}  // namespace

Module core_module = {.name = "http_core", .commands = kCommands};

}  // namespace portico::http
