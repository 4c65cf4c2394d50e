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

void set_satisfy(Level& lv, const Directive& d) {
  if (d.args[0] == "all")
    lv.loc.satisfy_any = false;
  else if (d.args[0] == "any")
    lv.loc.satisfy_any = true;
  else
    lv.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
}

const Command kCommands[] = {
    {{"satisfy", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_satisfy},
    {{"allow", kHSLI | kLimitExcept, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
    {{"deny", kHSLI | kLimitExcept, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
};

}  // namespace

// allow/deny: the first rule that matches the client decides.
AccessVerdict check_access(Request& r) {
  for (const auto& rule : r.loc->access) {
    if (access_rule_matches(rule, r.client_addr())) {
      if (rule.allow) return AccessVerdict::kAllow;
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "access forbidden by rule{}", log_context(r));
      return AccessVerdict::kForbidden;
    }
  }
  return AccessVerdict::kDeclined;
}

// nginx's ngx_http_core_access_phase over allow/deny and the modules' handlers, in that order.
// satisfy all: every verdict must allow (or decline); the first refusal answers. satisfy any:
// the first allow lets the request in; otherwise 401 wins over 403 among the refusals.
Step run_access_phase(Request& r) {
  const bool any = r.loc->satisfy_any;
  int refused = 0;
  auto judge = [&](AccessVerdict v) -> int {  // -1: go on; 0: allowed; >0: answer
    switch (v) {
      case AccessVerdict::kDeclined:
        return -1;
      case AccessVerdict::kAllow:
        return any ? 0 : -1;
      case AccessVerdict::kUnauthorized:
      case AccessVerdict::kForbidden:
        if (!any) return int(v);
        if (refused != 401) refused = int(v);
        return -1;
      case AccessVerdict::kError:
        return 500;
    }
    return -1;
  };
  int rc = r.loc->access.empty() ? -1 : judge(check_access(r));
  for (Module* m : modules()) {
    if (rc >= 0) break;
    if (m->access) rc = judge(m->access(r));
  }
  if (rc == 0) return Step::next();
  if (rc > 0) return Step::status(rc);
  return refused ? Step::status(refused) : Step::next();
}

Module access_module = {.name = "access", .commands = kCommands};

}  // namespace portico::http
