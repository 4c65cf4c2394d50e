// The static module's directives (nginx's ngx_http_index_module, and the etag,
// if_modified_since and max_ranges switches of the core and range filters).
#include <fmt/format.h>

#include "core/strings.h"
#include "http/level.h"
#include "static/static_handler.h"
#include "static/static_module.h"

namespace portico::static_files {

using config::BlockKind;
using config::Directive;
using http::Command;
using http::kHSL;
using http::Level;
using namespace config;  // context constants

namespace {

void set_index(Level& lv, const Directive& d) {
  StaticConf& sc = lv.conf<StaticConf>();
  if (lv.first(d)) sc.index.clear();
  for (const auto& x : d.args) {
    if (x.empty()) {
      lv.error(d, "index \"\" in \"index\" directive is invalid");
      continue;
    }
    http::ComplexValue v;
    if (lv.value(d, x, &v)) sc.index.push_back(std::move(v));
  }
}

void set_if_modified_since(Level& lv, const Directive& d) {
  ImsMode& m = lv.conf<StaticConf>().if_modified_since;
  const std::string& a = d.args[0];
  if (a == "off")
    m = ImsMode::kOff;
  else if (a == "exact")
    m = ImsMode::kExact;
  else if (a == "before")
    m = ImsMode::kBefore;
  else
    lv.error(d, fmt::format("invalid value \"{}\" in \"if_modified_since\" directive, it must be "
                            "\"off\", \"exact\" or \"before\"",
                            a));
}

void set_max_ranges(Level& lv, const Directive& d) {
  auto v = parse_uint(d.args[0]);
  if (!v || *v > UINT32_MAX)
    lv.error(d, "invalid number \"" + d.args[0] + "\"");
  else
    lv.conf<StaticConf>().max_ranges = uint32_t(*v);
}

// output_buffers NUMBER SIZE: how nginx reads a file it cannot sendfile. Files here go out
// with sendfile or from the open-file cache's memory, so the values are checked, not used.
void set_output_buffers(Level& lv, const Directive& d) {
  uint64_t size;
  auto n = parse_uint(d.args[0]);
  if (!n || *n == 0)
    lv.error(d, "invalid value \"" + d.args[0] + "\"");
  else
    lv.size(d, d.args[1], &size);
}

const Command kCommands[] = {
    {{"index", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_index},
    {{"etag", kHSL, 1, 1, BlockKind::kNone, 0, true}, http::set_flag<&StaticConf::etag>},
    {{"if_modified_since", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_if_modified_since},
    {{"max_ranges", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_max_ranges},
    {{"output_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true}, set_output_buffers},
};

}  // namespace

const http::ContentHandler kStaticContent = {.name = "static", .handle = serve};

http::Module static_module = {
    .name = "static", .commands = kCommands, .create_conf = http::create_conf<StaticConf>};

}  // namespace portico::static_files
