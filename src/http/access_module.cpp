// The access module's directives (nginx's ngx_http_access_module): allow and deny, checked
// first-match in the access phase (check_access, below).
#include <fmt/format.h>

#include "core/log.h"
#include "core/strings.h"
#include "http/connection.h"
#include "http/http_modules.h"
#include "http/level.h"
#include "http/phase_internal.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

void set_access_rule(Level& lv, const Directive& d) {
  if (lv.first_key("allow/deny")) lv.loc.access.clear();
  AccessRule rule;
  rule.allow = d.name == "allow";
  if (!parse_access_rule(d.args[0], rule)) {
    lv.error(d, fmt::format("invalid parameter \"{}\"", d.args[0]));
    return;
  }
  lv.loc.access.push_back(rule);
}

const Command kCommands[] = {
    {{"allow", kHSLI, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
    {{"deny", kHSLI, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
};

}  // namespace

// The access phase: the first rule that matches the client decides.
Step check_access(Request& r) {
  for (const auto& rule : r.loc->access) {
    if (access_rule_matches(rule, r.client_addr())) {
      if (rule.allow) return Step::next();
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "access forbidden by rule{}", log_context(r));
      return Step::status(403);
    }
  }
  return Step::next();
}

Module access_module = {.name = "access", .commands = kCommands};

}  // namespace portico::http
